"""Award nominations (đề nghị khen thưởng): tables, the lifecycle as a pure state machine, and the errors.

Lifecycle:
    drafted → proposed (in the proposer's outgoing list) → [batch sent with a tờ trình] → under review at the
    next level → approved there (in that level's outgoing list) → [batch sent] → … → under review at the
    deciding level → decided (decision number, date, signer) → awarded.
    A reviewer may return a file (→ returned, to the unit that sent it up, or to the proposer when the
    catalogue says `return_to: proposer`; the holder of a returned file fixes and resubmits it to the reviewer
    who returned it, or, if it is not the proposer, passes it down further) or reject it (final). The proposer may withdraw it until it is decided.
A unit at the deciding level reviews its own proposals: proposing puts them straight under its own review.
Every transition bumps `version` (optimistic concurrency: UPDATE … WHERE id = ? AND version = ?), writes a
NominationStep and an audit row in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Optional

from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from thidua.errors import (
    Category,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    NotPermittedError,
    RefusedError,
    ThiduaError,
)
from thidua.models.clock import utcnow


class NominationStatus(StrEnum):
    DRAFTED = "drafted"
    PROPOSED = "proposed"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    RETURNED = "returned"
    REJECTED = "rejected"
    DECIDED = "decided"
    AWARDED = "awarded"
    WITHDRAWN = "withdrawn"
    REVOKED = "revoked"  # the decision was revoked (Luật Thi đua, khen thưởng 2022, ch. VII)


class NominationAction(StrEnum):
    DRAFT = "draft"
    EDIT = "edit"
    PROPOSE = "propose"
    SEND = "send"  # the holder's batch goes to its direct superior
    APPROVE = "approve"
    RETURN = "return"
    RESUBMIT = "resubmit"
    REJECT = "reject"
    DECIDE = "decide"
    AWARD = "award"
    WITHDRAW = "withdraw"
    REVOKE = "revoke"


STATUS_LABELS = {
    NominationStatus.DRAFTED: "Nháp",
    NominationStatus.PROPOSED: "Đã đề nghị (chờ gửi tờ trình)",
    NominationStatus.UNDER_REVIEW: "Đang xét",
    NominationStatus.APPROVED: "Đã duyệt (chờ chuyển cấp trên)",
    NominationStatus.RETURNED: "Bị trả lại",
    NominationStatus.REJECTED: "Không được chấp nhận",
    NominationStatus.DECIDED: "Đã có quyết định khen thưởng",
    NominationStatus.AWARDED: "Đã trao tặng",
    NominationStatus.WITHDRAWN: "Đã rút",
    NominationStatus.REVOKED: "Quyết định khen thưởng đã bị hủy",
}

ACTION_LABELS = {
    NominationAction.DRAFT: "lập nháp",
    NominationAction.EDIT: "sửa hồ sơ",
    NominationAction.PROPOSE: "đề nghị",
    NominationAction.SEND: "gửi lên cấp trên",
    NominationAction.APPROVE: "duyệt và chuyển cấp trên",
    NominationAction.RETURN: "trả lại",
    NominationAction.RESUBMIT: "gửi lại",
    NominationAction.REJECT: "không chấp nhận",
    NominationAction.DECIDE: "quyết định khen thưởng",
    NominationAction.AWARD: "trao tặng",
    NominationAction.WITHDRAW: "rút đề nghị",
    NominationAction.REVOKE: "hủy quyết định khen thưởng",
}

# Counted by quotas: everything still on its way or granted.
ALIVE_STATUSES = frozenset(
    {
        NominationStatus.PROPOSED,
        NominationStatus.UNDER_REVIEW,
        NominationStatus.APPROVED,
        NominationStatus.RETURNED,
        NominationStatus.DECIDED,
        NominationStatus.AWARDED,
    }
)
GRANTED_STATUSES = frozenset({NominationStatus.DECIDED, NominationStatus.AWARDED})
# In an outgoing list waiting for its batch to be sent.
OUTGOING_STATUSES = frozenset({NominationStatus.PROPOSED, NominationStatus.APPROVED})

# Who may act: the proposing unit, or the unit currently holding the nomination (reviewer / decider).
PROPOSER_ACTIONS = frozenset(
    {NominationAction.EDIT, NominationAction.PROPOSE, NominationAction.RESUBMIT, NominationAction.WITHDRAW}
)
HOLDER_ACTIONS = frozenset(
    {
        NominationAction.APPROVE,
        NominationAction.RETURN,
        NominationAction.REJECT,
        NominationAction.DECIDE,
        NominationAction.AWARD,
        NominationAction.SEND,
        NominationAction.REVOKE,
    }
)


# ---------------------------------------------------------------------------------------------------
# Errors. NominationError and its subclasses are permanent (the same request fails again) except
# NominationConflict, which is retryable after reloading the current state.
# ---------------------------------------------------------------------------------------------------
class NominationError(ThiduaError):
    """A refused nomination request; the message is for the user (Vietnamese). Nothing was changed.
    Subclasses list their branch of thidua.errors first so its category wins."""

    category: ClassVar[Category] = RefusedError.category
    retryable = False


class NominationNotFound(NotFoundError, NominationError):
    pass


class InvalidNominationInput(InvalidInputError, NominationError):
    """Malformed or inconsistent input: unknown award form, nominee outside the proposer's subtree, …"""


class NotPermitted(NotPermittedError, NominationError):
    """The acting unit may not do this (not the proposer, not the current reviewer, not the decider)."""


class InvalidTransition(ConflictError, NominationError):
    """The action does not apply to the nomination's current status (it moved on): reload, not retry."""

    retryable = False


class RulesRefused(RefusedError, NominationError):
    """Eligibility, dossier, quota or exclusivity rules refuse; `refusals` maps nomination label → reasons."""

    def __init__(self, refusals: dict[str, list[Any]]):
        self.refusals = refusals
        lines = [f"{label}: {'; '.join(str(r) for r in reasons)}" for label, reasons in refusals.items()]
        super().__init__("\n".join(lines))

    def rules(self) -> set[str]:
        return {r.rule for reasons in self.refusals.values() for r in reasons}


class NominationConflict(ConflictError, NominationError):
    """Someone else changed the nomination (or batch) first; reload and decide again."""

    retryable = True


# ---------------------------------------------------------------------------------------------------
# State machine
# ---------------------------------------------------------------------------------------------------
_S, _A = NominationStatus, NominationAction
_TRANSITIONS: dict[tuple[NominationStatus, NominationAction], NominationStatus] = {
    (_S.DRAFTED, _A.EDIT): _S.DRAFTED,
    (_S.RETURNED, _A.EDIT): _S.RETURNED,
    (_S.DRAFTED, _A.PROPOSE): _S.PROPOSED,
    (_S.PROPOSED, _A.SEND): _S.UNDER_REVIEW,
    (_S.APPROVED, _A.SEND): _S.UNDER_REVIEW,
    (_S.UNDER_REVIEW, _A.APPROVE): _S.APPROVED,
    (_S.UNDER_REVIEW, _A.RETURN): _S.RETURNED,
    (_S.APPROVED, _A.RETURN): _S.RETURNED,  # changed its mind before the batch left
    (_S.RETURNED, _A.RETURN): _S.RETURNED,  # a level that got a file back passes it down to who sent it up
    (_S.UNDER_REVIEW, _A.REJECT): _S.REJECTED,
    (_S.APPROVED, _A.REJECT): _S.REJECTED,
    (_S.RETURNED, _A.RESUBMIT): _S.UNDER_REVIEW,
    (_S.UNDER_REVIEW, _A.DECIDE): _S.DECIDED,
    (_S.DECIDED, _A.AWARD): _S.AWARDED,
    (_S.DECIDED, _A.REVOKE): _S.REVOKED,
    (_S.AWARDED, _A.REVOKE): _S.REVOKED,
    (_S.DRAFTED, _A.WITHDRAW): _S.WITHDRAWN,
    (_S.PROPOSED, _A.WITHDRAW): _S.WITHDRAWN,
    (_S.UNDER_REVIEW, _A.WITHDRAW): _S.WITHDRAWN,
    (_S.APPROVED, _A.WITHDRAW): _S.WITHDRAWN,
    (_S.RETURNED, _A.WITHDRAW): _S.WITHDRAWN,
}


def next_status(status: str, action: str, *, at_deciding_unit: bool = False) -> NominationStatus:
    """The status after `action`, or InvalidTransition saying why not. `at_deciding_unit`: the unit acting
    (or, for PROPOSE, the proposer) is the one whose council decides this award."""
    current, act = NominationStatus(status), NominationAction(action)
    if act is _A.APPROVE and at_deciding_unit:
        raise InvalidTransition(
            "Đơn vị đang xét là cấp quyết định: hãy ra quyết định khen thưởng thay vì chuyển cấp trên"
        )
    if act is _A.DECIDE and not at_deciding_unit:
        raise InvalidTransition("Chỉ cấp quyết định mới ra quyết định khen thưởng; cấp này duyệt và chuyển cấp trên")
    target = _TRANSITIONS.get((current, act))
    if target is None:
        raise InvalidTransition(f"Không thể {ACTION_LABELS[act]}: đề nghị đang ở trạng thái '{STATUS_LABELS[current]}'")
    if act is _A.PROPOSE and at_deciding_unit:
        return _S.UNDER_REVIEW  # its own council reviews it
    return target


def allowed_actions(status: str, *, at_deciding_unit: bool) -> list[NominationAction]:
    out = []
    for action in NominationAction:
        try:
            next_status(status, action, at_deciding_unit=at_deciding_unit)
        except InvalidTransition:
            continue
        out.append(action)
    return out


def status_label(status: str) -> str:
    return STATUS_LABELS[NominationStatus(status)]


# ---------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------
class NominationBatch(SQLModel, table=True):
    """A level's consolidated list sent to its direct superior under one tờ trình (or, at the proposer,
    its own proposals). Open while the level is still adding to it; one open list per unit and occasion."""

    __tablename__ = "nomination_batch"
    __table_args__ = (
        Index(
            "ix_nombatch_open",
            "campaign_id",
            "from_unit_id",
            "occasion",
            "round_number",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_nombatch_to_unit", "to_unit_id", "status"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    from_unit_id: int = Field(foreign_key="unit.id")
    to_unit_id: int = Field(foreign_key="unit.id")
    from_level: str = Field(max_length=40)
    occasion: str = Field(max_length=16)  # round | year_end | ad_hoc
    round_number: int = 0  # 0 when not a round
    status: str = Field(default="open", max_length=16)  # open | sent
    to_trinh_number: str = Field(default="", max_length=80)
    to_trinh_date: Optional[date] = None
    sent_at: Optional[datetime] = None
    sent_by: str = Field(default="", max_length=254)
    item_count: int = 0  # nominations carried when sent
    decision_number: str = Field(default="", max_length=80)  # when decided as a whole
    decision_date: Optional[date] = None
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)


class Nomination(SQLModel, table=True):
    __table_args__ = (
        Index("ix_nomination_campaign_status", "campaign_id", "status"),
        Index("ix_nomination_current", "current_unit_id", "status"),
        Index("ix_nomination_origin", "origin_unit_id", "status"),
        Index("ix_nomination_award", "campaign_id", "award_code", "status"),
        Index("ix_nomination_nominee", "nominee_key"),
        Index("ix_nomination_nominee_unit", "nominee_unit_id", "award_code"),  # quota counts over a subtree
        Index("ix_nomination_batch", "batch_id", "status"),
        Index("ix_nomination_review_due", "status", "review_due_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    catalogue_code: str = Field(max_length=64)
    award_code: str = Field(max_length=64)
    award_name: str  # as in the catalogue when proposed (the register keeps what was granted)
    award_kind: str = Field(max_length=16)
    award_scope: str = Field(default="none", max_length=16)
    subject: str = Field(max_length=16)  # collective | individual
    nominee_unit_id: int = Field(foreign_key="unit.id")  # the collective, or the person's unit
    nominee_name: str
    nominee_position: str = ""  # chức vụ (individuals)
    nominee_key: str = Field(max_length=300)
    person_id: Optional[int] = Field(default=None, foreign_key="person.id")  # the persons register, when chosen there
    occasion: str = Field(max_length=16)
    round_number: Optional[int] = None
    theme: str = ""  # chuyên đề (thematic awards)
    achievement: str = ""  # tóm tắt thành tích
    achievement_key: str = Field(max_length=300)
    discipline: str = ""  # kỷ luật trong năm, as declared
    dossier: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    origin_unit_id: int = Field(foreign_key="unit.id")
    origin_level: str = Field(max_length=40)
    deciding_level: str = Field(max_length=40)
    deciding_unit_id: int = Field(foreign_key="unit.id")
    status: str = Field(default=NominationStatus.DRAFTED.value, max_length=16)
    current_unit_id: int = Field(foreign_key="unit.id")  # who holds it now (proposer, reviewer, decider)
    current_level: str = Field(max_length=40)
    returned_by_unit_id: Optional[int] = Field(default=None, foreign_key="unit.id")  # resubmission goes back there
    batch_id: Optional[int] = Field(default=None, foreign_key="nomination_batch.id")
    review_due_at: Optional[datetime] = None
    decision_number: str = Field(default="", max_length=80)
    decision_date: Optional[date] = None
    decision_signer: str = ""
    awarded_on: Optional[date] = None
    created_by: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    version: int = 1


class NominationStep(SQLModel, table=True):
    """One transition of one nomination: who, when, at which unit, why."""

    __tablename__ = "nomination_step"
    __table_args__ = (
        UniqueConstraint("nomination_id", "seq", name="uq_nomination_step_seq"),
        Index("ix_nomstep_unit_at", "at_unit_id", "at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    nomination_id: int = Field(foreign_key="nomination.id")
    seq: int  # the nomination's version after this step
    action: str = Field(max_length=16)
    from_status: Optional[str] = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    at_unit_id: int = Field(foreign_key="unit.id")  # the unit that acted
    to_unit_id: Optional[int] = Field(default=None, foreign_key="unit.id")  # who holds it afterwards
    actor: str = Field(max_length=254)
    at: datetime = Field(default_factory=utcnow)
    comment: str = ""
    review_due_at: Optional[datetime] = None  # deadline of the reviewer who receives it
    batch_id: Optional[int] = Field(default=None, foreign_key="nomination_batch.id")


class NominationQuotaCount(SQLModel, table=True):
    """Live nominations per quota group, kept in step with every transition (issue 17): a proposal's quota
    check reads one row instead of counting the province's nominations. `quota_key` names the quota's
    definition (code, awards, subjects, scope, period), so a changed catalogue starts fresh counts; a row is
    computed once from the nominations when first needed, and dropped when the unit tree changes."""

    __tablename__ = "nomination_quota_count"

    campaign_id: int = Field(foreign_key="campaign.id", primary_key=True)
    quota_key: str = Field(max_length=120, primary_key=True)
    scope_id: int = Field(default=0, primary_key=True)  # proposer or subtree root unit id; 0: the campaign
    round_number: int = Field(default=0, primary_key=True)  # 0: per year
    live: int = 0
