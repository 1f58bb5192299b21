"""Commendation as the law runs it, beyond the route of a nomination: the document number register
(số/ký hiệu), award decisions with their lists and revocation. Tables and pure rules only (no I/O); the
service is thidua.services.commendation.

Number register: one counter row per issuing unit, year and series (QĐ, TTr, BB…); a number is taken by
UPDATE … SET last_number = last_number + 1 … RETURNING inside the caller's transaction, so a rolled-back
issue gives its number back (no gap) and two issuers never read the same value (no duplicate: the row lock
serialises them, and the unique key on issued_number is the last guard).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow

SERIES_LABELS = {"QĐ": "Quyết định", "TTr": "Tờ trình", "BB": "Biên bản"}


class NumberCounter(SQLModel, table=True):
    __tablename__ = "number_counter"

    issuing_unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    year: int = Field(primary_key=True)
    series: str = Field(primary_key=True, max_length=16)
    last_number: int = 0


class IssuedNumber(SQLModel, table=True):
    """One number given out: to which document, by whom, when."""

    __tablename__ = "issued_number"
    __table_args__ = (UniqueConstraint("issuing_unit_id", "year", "series", "number", name="uq_issued_number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    issuing_unit_id: int = Field(foreign_key="unit.id")
    year: int
    series: str = Field(max_length=16)
    number: int
    symbol: str = Field(max_length=80)  # số/ký hiệu as printed, e.g. 15/QĐ-LĐLĐ
    purpose: str = Field(max_length=40)  # award_decision | to_trinh | minutes | revocation
    issued_at: datetime = Field(default_factory=utcnow)
    issued_by: str = Field(max_length=254)


class AwardDecision(SQLModel, table=True):
    """A quyết định khen thưởng: its number, date, signer and the list it carries; revocable with a reason."""

    __tablename__ = "award_decision"
    __table_args__ = (
        Index("ix_award_decision_campaign", "campaign_id", "issuing_unit_id"),
        UniqueConstraint("number_id", name="uq_award_decision_number"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    issuing_unit_id: int = Field(foreign_key="unit.id")
    number_id: int = Field(foreign_key="issued_number.id")
    symbol: str = Field(max_length=80)
    decision_date: date
    signer: str
    signer_title: str = ""
    subject: str = ""  # trích yếu
    council_session_id: Optional[int] = None  # the session whose votes it follows (when there was one)
    status: str = Field(default="issued", max_length=16)  # issued | revoked
    revoked_reason: str = ""
    revoked_at: Optional[datetime] = None
    revoked_by: str = Field(default="", max_length=254)
    revocation_symbol: str = Field(default="", max_length=80)
    total_amount: int = 0  # tiền thưởng, đồng
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    version: int = 1


class AwardDecisionItem(SQLModel, table=True):
    """One nomination on a decision's list (danh sách kèm theo), with its bonus at the decision date."""

    __tablename__ = "award_decision_item"
    __table_args__ = (Index("ix_award_decision_item_nomination", "nomination_id"),)

    decision_id: int = Field(foreign_key="award_decision.id", primary_key=True)
    nomination_id: int = Field(foreign_key="nomination.id", primary_key=True)
    position: int  # order on the list, from 1
    base_salary: int = 0  # lương cơ sở in force on the decision date, đồng
    multiplier: float = 0.0
    amount: int = 0  # đồng, rounded to the thousand


def format_symbol(pattern: str, *, number: int, series: str, unit_symbol: str, year: int) -> str:
    """The printed số/ký hiệu: `pattern` from config/commendation.yaml, e.g. '{so}/{loai}-{don_vi}'."""
    return pattern.format(so=number, loai=series, don_vi=unit_symbol, nam=year)


def revocation_problems(status: str, reason: str) -> list[str]:
    problems = []
    if status == "revoked":
        problems.append("quyết định đã bị hủy trước đó")
    if not reason.strip():
        problems.append("cần ghi lý do hủy quyết định (Luật Thi đua, khen thưởng 2022, chương VII)")
    return problems
