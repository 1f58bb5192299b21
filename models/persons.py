"""The register of persons (đoàn viên, cán bộ công đoàn) and their award history, and the catalogue's rules on
that history. Pure rules and tables; the service is thidua.services.commendation.persons.

Identity across years: a person with an ID number (số định danh / CCCD) is that number wherever they work; without
one, the same normalised name and birth year in the same unit. A nomination of a registered person carries its
person_id, so that history rules see every award the person got, under any unit and campaign.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Optional, Sequence

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from thidua.models.awards import Refusal
from thidua.models.clock import utcnow

PERSON_KINDS = {"doan_vien": "Đoàn viên", "can_bo": "Cán bộ công đoàn"}
KIND_BY_LABEL = {
    "đoàn viên": "doan_vien",
    "doan vien": "doan_vien",
    "cán bộ công đoàn": "can_bo",
    "cán bộ": "can_bo",
    "can bo": "can_bo",
    "doan_vien": "doan_vien",
    "can_bo": "can_bo",
}


class Person(SQLModel, table=True):
    __table_args__ = (
        Index("ix_person_unit_name", "unit_id", "name_key"),
        Index(
            "ix_person_id_number",
            "id_number",
            unique=True,
            sqlite_where=text("id_number <> ''"),
            postgresql_where=text("id_number <> ''"),
        ),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")  # where the person is now
    full_name: str = Field(max_length=200)
    name_key: str = Field(max_length=200)
    position: str = Field(default="", max_length=200)  # chức vụ
    kind: str = Field(default="doan_vien", max_length=16)  # doan_vien | can_bo
    birth_year: Optional[int] = None
    id_number: str = Field(default="", max_length=20)  # số định danh cá nhân (CCCD), optional
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class PersonAward(SQLModel, table=True):
    """One award a person received: imported history (before thidua), or a decision recorded here."""

    __tablename__ = "person_award"
    __table_args__ = (
        Index("ix_person_award_person_year", "person_id", "year"),
        UniqueConstraint("person_id", "year", "award_code", "decision_symbol", name="uq_person_award"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    year: int
    award_code: str = Field(max_length=64)
    award_name: str = ""
    decision_symbol: str = Field(default="", max_length=80)
    decision_date: Optional[date] = None
    nomination_id: Optional[int] = Field(default=None, foreign_key="nomination.id")
    source: str = Field(default="import", max_length=16)  # import | decision
    revoked: bool = False


def name_key(name: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", name)).strip().casefold()


def clean_name(name: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFC", name)).strip()


@dataclass(frozen=True)
class HistoryEntry:
    year: int
    award_code: str
    award_name: str = ""


@dataclass(frozen=True)
class HistoryRuleSpec:
    """The catalogue's rule as the pure check needs it (see models.spec.awards.HistoryRule)."""

    kind: str  # prior_awards | not_repeated
    awards: tuple[str, ...]
    at_least: int
    within_years: int
    title: str


def _years(year: int, within: int) -> range:
    return range(year - within, year)


def history_refusals(
    award_code: str,
    award_name: str,
    rules: Sequence[HistoryRuleSpec],
    history: Iterable[HistoryEntry],
    year: int,
    who: str,
    names: dict[str, str] | None = None,
) -> list[Refusal]:
    """Refusals of the award's history rules for a person whose (not revoked) awards are `history`, proposed for
    the campaign year `year`. Years counted are the M years before `year`."""
    entries = list(history)
    names = names or {}
    out: list[Refusal] = []
    for rule in rules:
        window = _years(year, rule.within_years)
        span = f"{window.start}–{window.stop - 1}" if len(window) > 1 else str(window.start)
        if rule.kind == "prior_awards":
            years = sorted({e.year for e in entries if e.award_code in rule.awards and e.year in window})
            if len(years) < rule.at_least:
                forms = " hoặc ".join(names.get(code, code) for code in rule.awards)
                got = f"có ở các năm {', '.join(map(str, years))}" if years else "chưa có năm nào"
                out.append(
                    Refusal(
                        f"lich-su:{rule.kind}",
                        f"Không đủ tiêu chuẩn {award_name}: {who} cần được {forms} ít "
                        f"nhất {rule.at_least} năm trong {rule.within_years} năm "
                        f"{span}; {got}",
                    )
                )
        elif rule.kind == "not_repeated":
            same = sorted({e.year for e in entries if e.award_code == award_code and e.year in window})
            if same:
                out.append(
                    Refusal(
                        f"lich-su:{rule.kind}",
                        f"{who} đã được {award_name} năm {', '.join(map(str, same))}; "
                        f"không đề nghị lại cùng hình thức trong {rule.within_years} "
                        f"năm liền trước ({span})",
                    )
                )
    return out
