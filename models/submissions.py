"""Submissions (every version kept), consolidation snapshots, and the pure submission lifecycle.

Lifecycle of one assignment (models.status.AssignmentStatus):

    Chưa gửi --submit--> Đã gửi (chờ duyệt) --accept--> Đã duyệt
                              |  ^                         |
                         return  submit (new version)      submit (correction: new version, re-reviewed;
                              v  |                          the accepted version keeps counting meanwhile)
                           Trả lại

An obligation with `review_required: false` goes straight to Đã duyệt on submit. Submitting again while a
version waits for review replaces it (the waiting version is marked superseded, never deleted).

Errors (all carry a Vietnamese message naming what and why; nothing is changed when one is raised). Each
also derives from its branch of thidua.errors (in brackets), which decides exit code and HTTP status:
    SubmissionError                 base
      UnknownReference              [not found] unknown campaign, unit, obligation, or a unit that does not owe it
      NotPermitted                  [not permitted] acting for another unit; reviewing what one is not the reviewer of
      InvalidTransition             [conflict, not retryable] e.g. accepting a report nobody sent, returning without a comment
      CampaignClosed                [refused] the campaign is closed (the office can reopen it)
      NotOpenYet                    [refused] before the obligation's opening day
      FormInvalid                   [invalid input] field errors (FormInvalid.errors)
      ImportRejected                [invalid input] spreadsheet rows with errors (ImportRejected.problems)
      UnreadableFile                [invalid input] a data file that cannot be read (syntax, layout)
      StaleVersion                  [conflict] someone acted first; reload and retry (the only retryable one)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Optional, Sequence

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlalchemy.dialects import postgresql
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
from thidua.models.forms import FieldError
from thidua.models.status import AssignmentStatus


class ReviewStatus(StrEnum):
    PENDING = "cho_duyet"
    ACCEPTED = "da_duyet"
    RETURNED = "tra_lai"
    SUPERSEDED = "thay_the"  # replaced by a newer version before anyone reviewed it


REVIEW_STATUS_LABELS = {
    ReviewStatus.PENDING: "Chờ duyệt",
    ReviewStatus.ACCEPTED: "Đã duyệt",
    ReviewStatus.RETURNED: "Trả lại",
    ReviewStatus.SUPERSEDED: "Đã thay bằng bản mới",
}


class Submission(SQLModel, table=True):
    """One version of one unit's report for one assignment. Rows are never updated except for the
    review fields of the version under review."""

    __table_args__ = (
        UniqueConstraint("assignment_id", "version", name="uq_submission_version"),
        Index("ix_submission_obligation_status", "obligation_id", "review_status"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    assignment_id: int = Field(foreign_key="assignment.id")
    obligation_id: int = Field(foreign_key="obligation.id")  # denormalised for set-based consolidation
    unit_id: int = Field(foreign_key="unit.id")
    version: int
    # JSONB on PostgreSQL: consolidation reads a dozen fields per row, and JSONB is parsed once, on insert.
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False)
    )
    submitted_by: str = Field(max_length=254)
    submitted_at: datetime
    source: str = Field(default="cli", max_length=16)  # cli | import | web | api
    late: bool = False  # this version arrived after the deadline
    review_status: str = Field(default=ReviewStatus.PENDING.value, max_length=16)
    review_comment: Optional[str] = None
    reviewed_by: Optional[str] = Field(default=None, max_length=254)
    reviewed_at: Optional[datetime] = None
    appraised_rating: Optional[str] = Field(default=None, max_length=120)  # set by the reviewer on a final report


class ConsolidationSnapshot(SQLModel, table=True):
    """Figures of one obligation consolidated over one aggregating unit's subtree. A new version is
    written only when the figures change, so a later correction is visible, never silent."""

    __table_args__ = (
        UniqueConstraint("obligation_id", "unit_id", "version", name="uq_snapshot_version"),
        Index("ix_snapshot_campaign", "campaign_id", "obligation_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    obligation_id: int = Field(foreign_key="obligation.id")
    round_number: Optional[int] = None
    unit_id: int = Field(foreign_key="unit.id")  # the aggregating unit
    version: int
    data_hash: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str = Field(default="system", max_length=254)


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------
class SubmissionError(ThiduaError):
    """A refused action. Permanent: retrying the same input fails the same way (except StaleVersion).
    Subclasses list their branch of thidua.errors first so its category wins."""

    category: ClassVar[Category] = RefusedError.category
    retryable = False


class UnknownReference(NotFoundError, SubmissionError):
    pass


class NotPermitted(NotPermittedError, SubmissionError):
    pass


class InvalidTransition(ConflictError, SubmissionError):
    retryable = False  # the state moved on: reload and decide again, do not repeat blindly


class CampaignClosed(RefusedError, SubmissionError):
    pass


class NotOpenYet(RefusedError, SubmissionError):
    pass


class UnreadableFile(InvalidInputError, SubmissionError):
    pass


class StaleVersion(ConflictError, SubmissionError):
    """Someone changed the assignment since it was read: reload and try again."""

    retryable = True


class FormInvalid(InvalidInputError, SubmissionError):
    def __init__(self, heading: str, errors: Sequence[FieldError]):
        self.errors = list(errors)
        super().__init__(heading + "\n" + "\n".join(f"  • {e}" for e in self.errors))


@dataclass(frozen=True)
class RowProblem:
    row: int  # spreadsheet row number as the user sees it
    column: str  # column letter, or "" for the row as a whole
    field: str  # field label/code or column name
    message: str

    def __str__(self) -> str:
        where = f"dòng {self.row}" + (f", cột {self.column}" if self.column else "")
        what = f" ({self.field})" if self.field else ""
        return f"{where}{what}: {self.message}"


class ImportRejected(InvalidInputError, SubmissionError):
    def __init__(self, heading: str, problems: Sequence[RowProblem]):
        self.problems = list(problems)
        super().__init__(heading + "\n" + "\n".join(f"  • {p}" for p in self.problems))


# ---------------------------------------------------------------------------------------------------
# State machine
# ---------------------------------------------------------------------------------------------------
class Action(StrEnum):
    SUBMIT = "submit"
    ACCEPT = "accept"
    RETURN = "return"


def next_status(current: str, action: Action, *, review_required: bool) -> AssignmentStatus:
    """The assignment status after an action, or InvalidTransition saying why not."""
    status = AssignmentStatus(current)
    if action is Action.SUBMIT:
        return AssignmentStatus.SUBMITTED if review_required else AssignmentStatus.ACCEPTED
    if status is not AssignmentStatus.SUBMITTED:
        reason = {
            AssignmentStatus.NOT_SUBMITTED: "đơn vị chưa gửi báo cáo",
            AssignmentStatus.ACCEPTED: "báo cáo đã được duyệt",
            AssignmentStatus.RETURNED: "báo cáo đã bị trả lại, đang chờ đơn vị gửi lại",
        }[status]
        verb = "duyệt" if action is Action.ACCEPT else "trả lại"
        raise InvalidTransition(f"không thể {verb}: {reason}")
    return AssignmentStatus.ACCEPTED if action is Action.ACCEPT else AssignmentStatus.RETURNED


def review_status_on_submit(review_required: bool) -> ReviewStatus:
    return ReviewStatus.PENDING if review_required else ReviewStatus.ACCEPTED


def is_late(submitted_at: datetime, due_at: datetime) -> bool:
    return submitted_at > due_at


def counted_review_statuses(accepted_only: bool) -> tuple[str, ...]:
    """Which versions consolidation may count: accepted ones, or (when the obligation allows) any
    version not returned or replaced. Per assignment only the latest such version counts."""
    if accepted_only:
        return (ReviewStatus.ACCEPTED.value,)
    return (ReviewStatus.ACCEPTED.value, ReviewStatus.PENDING.value)
