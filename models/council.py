"""Hội đồng thi đua, khen thưởng: a session of the deciding level's council, its members and attendance, the
nominations on its agenda, the votes (per member, or a secret-ballot tally) and the result against the
catalogue's quorum and threshold. Pure rules and tables; the service is thidua.services.commendation.council."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow

VOTES = {"for": "Đồng ý", "against": "Không đồng ý", "abstain": "Không biểu quyết"}
MODES = {"open": "Biểu quyết công khai (từng thành viên)", "secret": "Bỏ phiếu kín (kiểm phiếu)"}


class CouncilSession(SQLModel, table=True):
    __tablename__ = "council_session"
    __table_args__ = (Index("ix_council_session_unit", "campaign_id", "unit_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    unit_id: int = Field(foreign_key="unit.id")
    title: str
    held_on: date
    place: str = ""
    mode: str = Field(default="open", max_length=8)  # open | secret
    status: str = Field(default="open", max_length=8)  # open | closed
    quorum_met: Optional[bool] = None  # at closing
    present_count: int = 0
    member_count: int = 0
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # quorum/threshold used
    minutes_symbol: str = Field(default="", max_length=80)
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    closed_at: Optional[datetime] = None
    closed_by: str = Field(default="", max_length=254)


class CouncilMember(SQLModel, table=True):
    __tablename__ = "council_member"

    session_id: int = Field(foreign_key="council_session.id", primary_key=True)
    seq: int = Field(primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(default="Ủy viên", max_length=120)  # Chủ tịch Hội đồng, Phó Chủ tịch, Ủy viên, Thư ký
    present: bool = True


class CouncilAgendaItem(SQLModel, table=True):
    __tablename__ = "council_agenda_item"
    __table_args__ = (Index("ix_council_agenda_nomination", "nomination_id"),)

    session_id: int = Field(foreign_key="council_session.id", primary_key=True)
    nomination_id: int = Field(foreign_key="nomination.id", primary_key=True)
    position: int
    votes_for: int = 0
    votes_against: int = 0
    votes_abstain: int = 0
    result: str = Field(default="pending", max_length=8)  # pending | passed | failed


class CouncilVote(SQLModel, table=True):
    __tablename__ = "council_vote"

    session_id: int = Field(foreign_key="council_session.id", primary_key=True)
    nomination_id: int = Field(foreign_key="nomination.id", primary_key=True)
    member_seq: int = Field(primary_key=True)
    vote: str = Field(max_length=8)  # for | against | abstain


@dataclass(frozen=True)
class Rule:
    quorum_percent: float
    quorum_strict: bool
    threshold_percent: float
    threshold_strict: bool
    threshold_base: str  # members | present


def _meets(count: int, base: int, percent: float, strict: bool) -> bool:
    """count/base > percent% (strict) or ≥ (not strict), in integers: no rounding at the edge."""
    if base <= 0:
        return False
    left, right = count * 100, base * percent
    return left > right if strict else left >= right


def quorum_met(present: int, members: int, rule: Rule) -> bool:
    return _meets(present, members, rule.quorum_percent, rule.quorum_strict)


def passes(votes_for: int, present: int, members: int, rule: Rule) -> bool:
    base = members if rule.threshold_base == "members" else present
    return _meets(votes_for, base, rule.threshold_percent, rule.threshold_strict)


def needed_votes(present: int, members: int, rule: Rule) -> int:
    """The smallest number of votes for that passes (for the minutes)."""
    base = members if rule.threshold_base == "members" else present
    for n in range(0, base + 1):
        if _meets(n, base, rule.threshold_percent, rule.threshold_strict):
            return n
    return base + 1


def tally_problems(votes_for: int, against: int, abstain: int, present: int) -> list[str]:
    problems = []
    if min(votes_for, against, abstain) < 0:
        problems.append("số phiếu không được âm")
    if votes_for + against + abstain > present:
        problems.append(f"tổng số phiếu ({votes_for + against + abstain}) lớn hơn số thành viên có mặt ({present})")
    return problems


def rule_text(rule: Rule) -> tuple[str, str]:
    """(quorum, threshold) as written in the minutes."""
    quorum = f"{'trên' if rule.quorum_strict else 'từ'} {rule.quorum_percent:g}% tổng số thành viên"
    base = "tổng số thành viên Hội đồng" if rule.threshold_base == "members" else "số thành viên có mặt"
    return quorum, f"{'trên' if rule.threshold_strict else 'từ'} {rule.threshold_percent:g}% {base}"
