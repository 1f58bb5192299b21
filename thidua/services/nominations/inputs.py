"""nominations: Inputs and results."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Mapping, Protocol

from sqlmodel import Session

from thidua.models.awards import (
    DossierEntry,
)
from thidua.models.nominations import (
    ALIVE_STATUSES,
    GRANTED_STATUSES,
    Nomination,
    NominationAction,
    NominationBatch,
    NominationError,
    NominationQuotaCount,
    NominationStatus,
    NominationStep,
)
from thidua.models.tables import Unit

N = Nomination.__table__  # type: ignore[attr-defined]
B = NominationBatch.__table__  # type: ignore[attr-defined]
S = NominationStep.__table__  # type: ignore[attr-defined]
QC = NominationQuotaCount.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
_CHUNK = 5000  # ids per IN list (SQLite allows 32766 bound parameters)
_S = NominationStatus
_A = NominationAction
_ALIVE = sorted(s.value for s in ALIVE_STATUSES)
_GRANTED = sorted(s.value for s in GRANTED_STATUSES)


# ---------------------------------------------------------------------------------------------------
# Inputs and results
# ---------------------------------------------------------------------------------------------------
class RatingLookup(Protocol):
    """Port to the year-end rating of a unit (thidua.services.submissions.year_end_rating)."""

    def __call__(self, session: Session, campaign_id: int, unit_id: int) -> str | None: ...


def submissions_rating(session: Session, campaign_id: int, unit_id: int) -> str | None:
    """The production adapter: the appraised rating, else the proposed one, from the year-end report."""
    try:
        from thidua.services.submissions import year_end_rating
    except ImportError as exc:  # the submissions service is another part of the system
        raise NominationError(f"Chưa đọc được xếp loại cuối năm (mô-đun báo cáo chưa sẵn sàng: {exc})") from None
    return year_end_rating(session, campaign_id, unit_id)


@dataclass(frozen=True)
class Actor:
    """Who acts: the unit they act for, and their name for the record (e-mail, or 'cli:CODE')."""

    unit_id: int
    name: str


@dataclass(frozen=True)
class DocumentRef:
    """A tờ trình: number/symbol and date."""

    number: str
    on: date


@dataclass(frozen=True)
class Decision:
    number: str
    on: date | None
    signer: str


@dataclass
class ProposalInput:
    award_code: str
    subject: str  # collective | individual
    nominee_unit_id: int  # the collective, or the person's unit
    achievement: str  # tóm tắt thành tích
    occasion: str = "year_end"
    round_number: int | None = None
    person_name: str = ""
    person_position: str = ""
    theme: str = ""  # chuyên đề, for thematic awards
    discipline: str = ""  # kỷ luật trong năm, if any
    dossier: Mapping[str, DossierEntry] = field(default_factory=dict)
    person_id: int | None = None  # a person of the register (history rules need it)


@dataclass
class ProposalChanges:
    """What a proposer may change in a draft or a returned file (None: unchanged)."""

    achievement: str | None = None
    person_position: str | None = None
    theme: str | None = None
    discipline: str | None = None
    dossier: Mapping[str, DossierEntry] | None = None  # entries given replace those of the same code


@dataclass
class ProposeResult:
    nomination_ids: list[int]
    batch_ids: list[int]  # outgoing lists the proposals joined (empty when the proposer decides itself)
    sent: bool


@dataclass
class BatchResult:
    batch_id: int
    to_unit_id: int
    nomination_ids: list[int]


@dataclass
class WindowClose:
    occasion: str
    round_number: int | None
    title: str
    level: str
    closes_on: date


@dataclass
class CloseResult:
    sent: list[BatchResult] = field(default_factory=list)
    missing_to_trinh: list[dict[str, Any]] = field(default_factory=list)  # open lists that could not leave


@dataclass
class StepView:
    seq: int
    action: str
    from_status: str | None
    to_status: str
    at_unit: str
    to_unit: str
    actor: str
    at: datetime
    comment: str
    review_due_at: datetime | None


@dataclass
class NominationView:
    id: int
    version: int
    status: str
    status_label: str
    award_code: str
    award_name: str
    subject: str
    nominee_name: str
    nominee_position: str
    nominee_unit: str
    occasion: str
    occasion_label: str
    round_number: int | None
    theme: str
    achievement: str
    discipline: str
    dossier: dict[str, Any]
    origin_unit_id: int
    origin_unit: str
    current_unit_id: int
    current_unit: str
    deciding_unit_id: int
    deciding_unit: str
    returned_by_unit_id: int | None
    review_due_at: datetime | None
    decision_number: str
    decision_date: date | None
    decision_signer: str
    awarded_on: date | None
    updated_at: datetime
    route: list[str] = field(default_factory=list)  # levels that review it, bottom-up, ending with the decider
    steps: list[StepView] = field(default_factory=list)
    batch_id: int | None = None  # the list it travels in (outgoing or incoming)


@dataclass
class _Move:
    row: Mapping[str, Any]
    to_status: str
    values: dict[str, Any]  # columns to set besides status/version/updated_at
    to_unit_id: int | None
    review_due_at: datetime | None = None
    batch_id: int | None = None
