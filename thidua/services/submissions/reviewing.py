"""submissions: Reviewing; Campaign open/closed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from thidua.audit import audit_many
from thidua.db import owns_transaction
from thidua.models.clock import fmt_date, utc_to_local, utcnow
from thidua.models.forms import FieldError, validate_form
from thidua.models.spec.campaign import Obligation
from thidua.models.status import AssignmentStatus
from thidua.models.submissions import (
    Action,
    FormInvalid,
    InvalidTransition,
    NotPermitted,
    ReviewStatus,
    SubmissionError,
    next_status,
)
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit

from .finding import (
    RATING_FIELD,
    S,
    _check_open,
    _check_version,
    get_assignment,
    get_campaign,
    get_obligation,
    get_unit,
    obligation_spec,
)
from .submitting import _update_assignments


# ---------------------------------------------------------------------------------------------------
# Reviewing
# ---------------------------------------------------------------------------------------------------
@dataclass
class ReviewResult:
    assignment_id: int
    unit_code: str
    obligation_code: str
    version: int
    status: AssignmentStatus
    comment: str | None
    appraised_rating: str | None
    mail_keys: list[str] = field(default_factory=list)  # mail queued for the unit (a return)

    def describe(self) -> str:
        verb = "Đã duyệt" if self.status is AssignmentStatus.ACCEPTED else "Đã trả lại"
        extra = f"; xếp loại thẩm định: {self.appraised_rating}" if self.appraised_rating else ""
        return f"{verb} báo cáo '{self.obligation_code}' của {self.unit_code} (bản số {self.version}){extra}"


@owns_transaction
def review_report(
    session: Session,
    *,
    campaign_code: str,
    obligation_code: str,
    unit_code: str,
    reviewer_code: str,
    accept: bool,
    actor: str,
    comment: str | None = None,
    appraised_rating: str | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> ReviewResult:
    """The reviewer unit accepts the waiting version, or returns it with a comment. When accepting a
    final report the reviewer may set the appraised year-end rating (one of the form's choices)."""
    now = now or utcnow()
    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    unit = get_unit(session, unit_code)
    reviewer = get_unit(session, reviewer_code)
    assignment = get_assignment(session, obligation, unit)
    item = ReviewItem(assignment, unit, reviewer, accept, actor, comment, appraised_rating)
    _check_reviewer(session, obligation, item)
    _check_open(campaign)
    _check_version(assignment, expected_version)
    written, refused = review_many(session, campaign, obligation, [item], now=now)
    for _, error in refused:
        raise error
    return written[0]


@dataclass
class ReviewItem:
    """One review for review_many: the (freshly read) assignment, its unit, the reviewing unit, the decision."""

    assignment: Assignment
    unit: Unit
    reviewer: Unit
    accept: bool
    actor: str
    comment: str | None = None
    appraised_rating: str | None = None


def _check_reviewer(session: Session, obligation: ObligationDef, item: ReviewItem) -> None:
    assignment, reviewer, unit = item.assignment, item.reviewer, item.unit
    if assignment.reviewer_unit_id != reviewer.id:
        expected = session.get(Unit, assignment.reviewer_unit_id) if assignment.reviewer_unit_id else None
        who = f"đơn vị duyệt là '{expected.code}'" if expected else "nghĩa vụ này không có đơn vị duyệt"
        raise NotPermitted(
            f"đơn vị '{reviewer.code}' không được duyệt báo cáo '{obligation.code}' của '{unit.code}' ({who})"
        )


def review_many(
    session: Session,
    campaign: Campaign,
    obligation: ObligationDef,
    items: Sequence[ReviewItem],
    *,
    now: datetime,
) -> tuple[list[ReviewResult], list[tuple[ReviewItem, SubmissionError]]]:
    """Several reviews of one obligation's reports, each checked as review_report checks it, the allowed ones
    written set-based in the caller's transaction. Returns (written, refused with why); a closed campaign
    refuses the whole batch."""
    _check_open(campaign)
    spec: Obligation | None = None
    updates, reviews, audits, results = [], [], [], []
    refused: list[tuple[ReviewItem, SubmissionError]] = []
    reviewed: list[tuple[ReviewItem, ReviewResult]] = []
    for item in items:
        assignment = item.assignment
        try:
            _check_reviewer(session, obligation, item)
            status = next_status(
                assignment.status, Action.ACCEPT if item.accept else Action.RETURN, review_required=True
            )
            comment = (item.comment or "").strip() or None
            if not item.accept and comment is None:
                raise InvalidTransition("trả lại báo cáo phải kèm nhận xét (--comment) để đơn vị biết cần sửa gì")
            rating = None
            if item.appraised_rating:
                spec = spec or obligation_spec(obligation)
                rating = _appraised_rating(spec, item.appraised_rating, item.accept)
        except SubmissionError as exc:
            refused.append((item, exc))
            continue
        review = ReviewStatus.ACCEPTED if item.accept else ReviewStatus.RETURNED
        updates.append(
            {
                "b_id": assignment.id,
                "b_version": assignment.version,
                "b_status": status.value,
                "b_submitted_at": assignment.submitted_at,
                "b_reviewed_at": now,
                "b_late": assignment.late,
                "b_current_version": assignment.current_version,
                "b_new_version": assignment.version + 1,
            }
        )
        reviews.append(
            {
                "b_assignment_id": assignment.id,
                "b_version": assignment.current_version,
                "b_review_status": review.value,
                "b_comment": comment,
                "b_reviewed_by": item.actor,
                "b_rating": rating,
            }
        )
        audits.append(
            {
                "actor": item.actor,
                "action": "submission.accepted" if item.accept else "submission.returned",
                "entity": "assignment",
                "entity_id": assignment.id,
                "campaign_id": campaign.id,
                "unit_id": item.unit.id,
                "at": now,
                "before": {"status": assignment.status},
                "after": {"status": status.value, "version": assignment.current_version, "appraised_rating": rating},
                "note": comment or "",
            }
        )
        results.append(
            ReviewResult(
                assignment.id,  # type: ignore[arg-type]
                item.unit.code,
                obligation.code,
                assignment.current_version,
                status,
                comment,
                rating,
            )
        )
        reviewed.append((item, results[-1]))
    if updates:
        _update_assignments(session, updates, now)
        session.execute(
            update(S)
            .where(
                S.c.assignment_id == bindparam("b_assignment_id"),
                S.c.version == bindparam("b_version"),
                S.c.review_status == ReviewStatus.PENDING.value,
            )
            .values(
                review_status=bindparam("b_review_status"),
                review_comment=bindparam("b_comment"),
                reviewed_by=bindparam("b_reviewed_by"),
                reviewed_at=now,
                appraised_rating=bindparam("b_rating"),
            ),
            reviews,
        )
        audit_many(session, audits)
        returned = [(item, result) for item, result in reviewed if not item.accept]
        senders = _senders(session, [(result.assignment_id, result.version) for _, result in returned])
        for item, result in returned:
            result.mail_keys = _tell_unit_returned(
                session,
                campaign,
                obligation,
                item.unit,
                item.reviewer,
                item.assignment,
                result.version,
                result.comment or "",
                sender=senders.get((result.assignment_id, result.version)),
                actor=item.actor,
                now=now,
            )
        for item in items:  # keep loaded objects truthful for the caller
            session.expire(item.assignment)
    return results, refused


def _tell_unit_returned(
    session: Session,
    campaign: Campaign,
    obligation: ObligationDef,
    unit: Unit,
    reviewer: Unit,
    assignment: Assignment,
    version: int,
    comment: str,
    *,
    sender: str | None,
    actor: str,
    now: datetime,
) -> list[str]:
    """Queue, at `now`, a mail to the unit's addresses and to whoever sent the returned version (`sender`):
    the reviewer's comment and a link (signed per recipient when sent). The actor is not told of their own act."""
    from thidua.notifications.outbox import enqueue_many  # the outbox is an adapter of this service

    recipients = [e.strip().lower() for e in [*(unit.emails or []), sender or ""] if "@" in (e or "")]
    recipients = [e for e in dict.fromkeys(recipients) if e != actor.strip().lower()]
    context = {
        "unit_name": unit.name,
        "obligation_title": obligation.title,
        "reviewer_name": reviewer.name,
        "comment": comment,
        "version": version,
        "due_date": fmt_date(assignment.due_on),
        "returned_at": utc_to_local(now, campaign.timezone).strftime("%H:%M %d/%m/%Y"),
    }
    rows = [
        {
            "key": f"returned:{assignment.id}:{version}:{email}",
            "kind": "report_returned",
            "recipient": email,
            "template": "report_returned",
            "context": context,
            "scheduled_at": now,
            "campaign_id": campaign.id,
            "unit_id": unit.id,
            "assignment_id": assignment.id,
        }
        for email in recipients
    ]
    enqueue_many(session, rows)
    return [r["key"] for r in rows]


def _senders(session: Session, versions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], str | None]:
    """Who sent each (assignment id, version), read at once for a batch of returns."""
    wanted = set(versions)
    out: dict[tuple[int, int], str | None] = {}
    ids = sorted({assignment_id for assignment_id, _ in wanted})
    for start in range(0, len(ids), 500):
        for assignment_id, version, by in session.execute(
            select(S.c.assignment_id, S.c.version, S.c.submitted_by).where(
                S.c.assignment_id.in_(ids[start : start + 500])
            )
        ):
            if (assignment_id, version) in wanted:
                out[(assignment_id, version)] = by
    return out


def _appraised_rating(spec: Obligation, value: str, accept: bool) -> str:
    rating_field = next((f for f in spec.fields if f.code == RATING_FIELD), None)
    if rating_field is None:
        raise FormInvalid(
            "Không thể ghi xếp loại thẩm định:",
            [FieldError(RATING_FIELD, f"nghĩa vụ '{spec.code}' không có trường xếp loại")],
        )
    if not accept:
        raise InvalidTransition("xếp loại thẩm định chỉ ghi khi duyệt báo cáo, không ghi khi trả lại")
    clean, errors = validate_form([rating_field], {RATING_FIELD: value}, sector=None)
    if errors:
        raise FormInvalid("Xếp loại thẩm định không hợp lệ:", errors)
    return clean[RATING_FIELD]


# ---------------------------------------------------------------------------------------------------
# Campaign open/closed
# ---------------------------------------------------------------------------------------------------
@owns_transaction
def set_campaign_status(
    session: Session, campaign_code: str, *, closed: bool, actor: str, now: datetime | None = None
) -> bool:
    """Close a campaign (no more submissions or reviews) or reopen it. Returns whether it changed."""
    campaign = get_campaign(session, campaign_code)
    wanted = "closed" if closed else "active"
    if campaign.status == wanted:
        return False
    before = campaign.status
    now = now or utcnow()
    campaign.status = wanted
    campaign.updated_at = now
    audit_many(
        session,
        [
            {
                "actor": actor,
                "action": "campaign.closed" if closed else "campaign.reopened",
                "entity": "campaign",
                "entity_id": campaign.id,
                "campaign_id": campaign.id,
                "at": now,
                "before": {"status": before},
                "after": {"status": wanted},
            }
        ],
    )
    session.flush()
    return True
