"""Submitting, reviewing and bulk-importing reports; form files and spreadsheet templates.

Every action runs in the caller's transaction and writes the audit log in it; a refused action raises a
models.submissions.SubmissionError before anything is written. Writes go through Core (executemany with
an optimistic version check on the assignment), so a unit and its reviewer acting at the same moment
cannot both win: the second gets StaleVersion.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from thidua.db import owns_transaction
from thidua.models.clock import fmt_date, utc_to_local, utcnow
from thidua.models.forms import FieldError, applies_to, fold, is_blank, validate_form
from thidua.models.spec.campaign import FormField, Obligation
from thidua.models.status import STATUS_LABELS, AssignmentStatus
from thidua.models.submissions import (
    Action,
    CampaignClosed,
    FormInvalid,
    ImportRejected,
    InvalidTransition,
    NotOpenYet,
    NotPermitted,
    ReviewStatus,
    RowProblem,
    StaleVersion,
    Submission,
    SubmissionError,
    UnknownReference,
    UnreadableFile,
    counted_review_statuses,
    is_late,
    next_status,
    review_status_on_submit,
)
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.audit import audit_many
from thidua.xlsx_safety import put_cell
from thidua.services import lookup

RATING_FIELD = "xep_loai_de_nghi"  # the proposed year-end rating on the final report
A = Assignment.__table__  # type: ignore[attr-defined]
S = Submission.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------
# Looking things up
# ---------------------------------------------------------------------------------------------------
def get_campaign(session: Session, code: str) -> Campaign:
    return lookup.get_campaign(session, code, error=UnknownReference)


def get_obligation(session: Session, campaign: Campaign, code: str) -> ObligationDef:
    obligation = session.execute(
        select(ObligationDef).where(ObligationDef.campaign_id == campaign.id, ObligationDef.code == code)
    ).scalars().first()
    if obligation is None or not obligation.active:
        known = session.execute(
            select(ObligationDef.code).where(ObligationDef.campaign_id == campaign.id, ObligationDef.active.is_(True))  # type: ignore[attr-defined]
        ).scalars().all()
        raise UnknownReference(f"chiến dịch '{campaign.code}' không có nghĩa vụ '{code}' (có: {', '.join(sorted(known))})")
    return obligation


def get_unit(session: Session, code: str) -> Unit:
    return lookup.get_unit(session, code, error=UnknownReference)


def get_assignment(session: Session, obligation: ObligationDef, unit: Unit) -> Assignment:
    assignment = session.execute(
        select(Assignment).where(Assignment.obligation_id == obligation.id, Assignment.unit_id == unit.id)
    ).scalars().first()
    if assignment is None or not assignment.active:
        raise UnknownReference(f"đơn vị '{unit.code}' không phải nộp '{obligation.code}' ({obligation.title})")
    return assignment


def obligation_spec(obligation: ObligationDef) -> Obligation:
    """The typed obligation (fields, review rules) as loaded from the campaign file."""
    return Obligation.model_validate(obligation.definition)


def round_obligation(session: Session, campaign: Campaign | lookup.CampaignInfo, round_number: int) -> ObligationDef:
    """The report of a round: its round_report, or the final report that closes the last round."""
    rows = session.execute(
        select(ObligationDef).where(
            ObligationDef.campaign_id == campaign.id, ObligationDef.round_number == round_number,
            ObligationDef.kind.in_(("round_report", "final_report")), ObligationDef.active.is_(True),  # type: ignore[attr-defined]
        ).order_by(ObligationDef.kind.desc())  # type: ignore[attr-defined]  # round_report before final_report
    ).scalars().all()
    if not rows:
        raise UnknownReference(f"chiến dịch '{campaign.code}' không có báo cáo sơ kết đợt {round_number}")
    return rows[0]


def _check_open(campaign: Campaign) -> None:
    if campaign.status == "closed":
        raise CampaignClosed(
            f"chiến dịch '{campaign.code}' đã đóng: không nhận thêm báo cáo hay thay đổi "
            "(Văn phòng có thể mở lại bằng 'thidua campaign reopen')"
        )


def _check_window(campaign: Campaign, obligation: ObligationDef, now: datetime) -> None:
    today = utc_to_local(now, campaign.timezone).date()
    if obligation.opens_on is not None and today < obligation.opens_on:
        raise NotOpenYet(f"'{obligation.title}' mở nhận báo cáo từ ngày {fmt_date(obligation.opens_on)}")


def _check_version(assignment: Assignment, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != assignment.version:
        raise StaleVersion(
            f"báo cáo đã thay đổi từ lúc bạn mở (phiên bản {expected_version}, hiện tại {assignment.version}); "
            "hãy tải lại rồi thao tác lại"
        )


# ---------------------------------------------------------------------------------------------------
# Submitting
# ---------------------------------------------------------------------------------------------------
@dataclass
class SubmitResult:
    assignment_id: int
    unit_code: str
    obligation_code: str
    version: int
    status: AssignmentStatus
    late: bool
    data: dict[str, Any]

    def describe(self) -> str:
        late = " (nộp muộn)" if self.late else ""
        return (f"Đã ghi báo cáo '{self.obligation_code}' của {self.unit_code}, bản số {self.version}{late}: "
                f"{STATUS_LABELS[self.status]}")


@dataclass
class _Planned:
    assignment: Assignment
    unit: Unit
    data: dict[str, Any]
    actor: str | None = None  # None: the batch's actor


@dataclass
class SubmitItem:
    """One unit's report for submit_many: its (freshly read) assignment, the unit, the raw form, who sends it."""
    assignment: Assignment
    unit: Unit
    raw: Mapping[str, Any]
    actor: str


@owns_transaction
def submit_report(
    session: Session,
    *,
    campaign_code: str,
    obligation_code: str,
    unit_code: str,
    raw: Mapping[str, Any],
    actor: str,
    acting_unit_code: str | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
    source: str = "cli",
) -> SubmitResult:
    """A unit sends its report (a new version). `acting_unit_code` is the unit the actor belongs to
    (a unit submits only for itself); `expected_version` is the assignment version the actor saw."""
    now = now or utcnow()
    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    unit = get_unit(session, unit_code)
    if acting_unit_code is not None and acting_unit_code != unit_code:
        raise NotPermitted(f"đơn vị '{acting_unit_code}' không được gửi báo cáo thay cho đơn vị '{unit_code}'")
    assignment = get_assignment(session, obligation, unit)
    _check_open(campaign)
    _check_window(campaign, obligation, now)
    _check_version(assignment, expected_version)
    written, refused = submit_many(session, campaign, obligation, obligation_spec(obligation),
                                   [SubmitItem(assignment, unit, raw, actor)], now=now, source=source)
    for _, error in refused:
        raise error
    return written[0]


def submit_many(
    session: Session, campaign: Campaign, obligation: ObligationDef, spec: Obligation, items: Sequence[SubmitItem],
    *, now: datetime, source: str,
) -> tuple[list[SubmitResult], list[tuple[SubmitItem, SubmissionError]]]:
    """Several units' reports for one obligation, each checked as submit_report checks it, the accepted ones
    written set-based in the caller's transaction. Returns (written, refused with why). The campaign and
    obligation are the caller's (looked up once for many reports, e.g. by the simulation); a closed campaign
    or an obligation not open yet refuses the whole batch."""
    _check_open(campaign)
    _check_window(campaign, obligation, now)
    planned: list[_Planned] = []
    refused: list[tuple[SubmitItem, SubmissionError]] = []
    for item in items:
        clean, errors = validate_form(spec.fields, item.raw, sector=item.unit.sector, level=item.unit.level_code,
                                      attributes=item.unit.attributes)
        if errors:
            refused.append((item, FormInvalid(
                f"Báo cáo '{obligation.code}' của đơn vị {item.unit.code} không hợp lệ, chưa ghi gì:", errors)))
            continue
        planned.append(_Planned(item.assignment, item.unit, clean, item.actor))
    written = _apply_submissions(session, campaign, obligation, spec, planned, actor=None, now=now, source=source,
                                 accept=False)
    return written, refused


def _apply_submissions(
    session: Session, campaign: Campaign, obligation: ObligationDef, spec: Obligation, planned: Sequence[_Planned],
    *, actor: str | None, now: datetime, source: str, accept: bool,
) -> list[SubmitResult]:
    """Write new versions for already-validated forms, set-based: supersede waiting versions, insert the
    new ones, move the assignments on (version-checked), audit. `accept`: the reviewer entered the data."""
    if not planned:
        return []
    review = ReviewStatus.ACCEPTED if accept else review_status_on_submit(spec.review_required)
    submissions, updates, audits, results = [], [], [], []
    for item in planned:
        a = item.assignment
        by = item.actor or actor
        status = AssignmentStatus.ACCEPTED if accept else next_status(a.status, Action.SUBMIT, review_required=spec.review_required)
        version = a.current_version + 1
        late_now = is_late(now, a.due_at)
        first_submitted_at = a.submitted_at or now
        # Lateness of the assignment is that of its first report: a report sent on time and later returned
        # for correction is not late (each version keeps its own flag).
        assignment_late = a.late if a.submitted_at is not None else late_now
        submissions.append({
            "assignment_id": a.id, "obligation_id": obligation.id, "unit_id": item.unit.id, "version": version,
            "data": item.data, "submitted_by": by, "submitted_at": now, "source": source, "late": late_now,
            "review_status": review.value, "review_comment": None,
            "reviewed_by": by if review is ReviewStatus.ACCEPTED else None,
            "reviewed_at": now if review is ReviewStatus.ACCEPTED else None, "appraised_rating": None,
        })
        updates.append({
            "b_id": a.id, "b_version": a.version, "b_status": status.value, "b_submitted_at": first_submitted_at,
            "b_reviewed_at": now if status is AssignmentStatus.ACCEPTED else a.reviewed_at,
            "b_late": assignment_late, "b_current_version": version, "b_new_version": a.version + 1,
        })
        audits.append({
            "actor": by, "action": "submission.accepted_on_entry" if accept else "submission.submitted",
            "entity": "assignment", "entity_id": a.id, "campaign_id": campaign.id, "unit_id": item.unit.id, "at": now,
            "before": {"status": a.status, "current_version": a.current_version},
            "after": {"status": status.value, "current_version": version, "late": late_now, "source": source},
        })
        results.append(SubmitResult(a.id, item.unit.code, obligation.code, version, status, late_now, item.data))  # type: ignore[arg-type]
    # The version-checked update goes first: a concurrent writer makes it match fewer rows (StaleVersion)
    # before anything else is written.
    _update_assignments(session, updates, now)
    ids = [item.assignment.id for item in planned]
    session.execute(
        update(S).where(S.c.assignment_id.in_(ids), S.c.review_status == ReviewStatus.PENDING.value)
        .values(review_status=ReviewStatus.SUPERSEDED.value)
    )
    session.execute(insert(S), submissions)
    audit_many(session, audits)
    _queue_report_copies(session, campaign, obligation, spec, planned, results, now)
    for item in planned:  # keep loaded objects truthful for the caller
        session.expire(item.assignment)
    return results


def _queue_report_copies(session: Session, campaign: Campaign, obligation: ObligationDef, spec: Obligation,
                         planned: Sequence[_Planned], results: Sequence[SubmitResult], now: datetime) -> None:
    """A copy of each new version for the obligation's recipients outside the tree (one mail per version and
    address: the outbox key makes a retried submission queue nothing twice)."""
    recipients = spec.copy_recipients()
    if not recipients:
        return
    from thidua.notifications.outbox import enqueue_many  # noqa: PLC0415

    labels = {f.code: f.label for f in spec.fields}
    rows = []
    for item, result in zip(planned, results):
        lines = [f"- {labels.get(code, code)}: {_shown(value)}" for code, value in item.data.items() if value not in (None, "")]
        body = (f"{item.unit.name} đã gửi “{obligation.title}” (bản số {result.version}) trong "
                f"“{campaign.title}”.\n\n" + "\n".join(lines))
        for name, address in recipients:
            rows.append({
                "key": f"copy:{result.assignment_id}:{result.version}:{address.lower()}", "kind": "report_copy",
                "recipient": address, "template": "generic", "campaign_id": campaign.id, "unit_id": item.unit.id,
                "scheduled_at": now,
                "context": {"subject": f"Bản sao báo cáo: {obligation.title} — {item.unit.name}",
                            "greeting": f"Kính gửi {name}," if name else "", "body": body},
            })
    enqueue_many(session, rows)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "có" if value else "không"
    return str(value)


def _update_assignments(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    statement = (
        update(A)
        .where(A.c.id == bindparam("b_id"), A.c.version == bindparam("b_version"))
        .values(status=bindparam("b_status"), submitted_at=bindparam("b_submitted_at"),
                reviewed_at=bindparam("b_reviewed_at"), late=bindparam("b_late"),
                current_version=bindparam("b_current_version"), version=bindparam("b_new_version"), updated_at=now)
    )
    changed = session.execute(statement, rows).rowcount
    if changed != len(rows):
        raise StaleVersion("một báo cáo vừa được người khác thay đổi cùng lúc; chưa ghi gì, hãy thử lại")


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
        raise NotPermitted(f"đơn vị '{reviewer.code}' không được duyệt báo cáo '{obligation.code}' của '{unit.code}' ({who})")


def review_many(
    session: Session, campaign: Campaign, obligation: ObligationDef, items: Sequence[ReviewItem], *, now: datetime,
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
            status = next_status(assignment.status, Action.ACCEPT if item.accept else Action.RETURN, review_required=True)
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
        updates.append({
            "b_id": assignment.id, "b_version": assignment.version, "b_status": status.value,
            "b_submitted_at": assignment.submitted_at, "b_reviewed_at": now, "b_late": assignment.late,
            "b_current_version": assignment.current_version, "b_new_version": assignment.version + 1,
        })
        reviews.append({"b_assignment_id": assignment.id, "b_version": assignment.current_version,
                        "b_review_status": review.value, "b_comment": comment, "b_reviewed_by": item.actor,
                        "b_rating": rating})
        audits.append({
            "actor": item.actor, "action": "submission.accepted" if item.accept else "submission.returned",
            "entity": "assignment", "entity_id": assignment.id, "campaign_id": campaign.id, "unit_id": item.unit.id,
            "at": now, "before": {"status": assignment.status},
            "after": {"status": status.value, "version": assignment.current_version, "appraised_rating": rating},
            "note": comment or "",
        })
        results.append(ReviewResult(assignment.id, item.unit.code, obligation.code, assignment.current_version, status,  # type: ignore[arg-type]
                                    comment, rating))
        reviewed.append((item, results[-1]))
    if updates:
        _update_assignments(session, updates, now)
        session.execute(
            update(S).where(S.c.assignment_id == bindparam("b_assignment_id"), S.c.version == bindparam("b_version"),
                            S.c.review_status == ReviewStatus.PENDING.value)
            .values(review_status=bindparam("b_review_status"), review_comment=bindparam("b_comment"),
                    reviewed_by=bindparam("b_reviewed_by"), reviewed_at=now, appraised_rating=bindparam("b_rating")),
            reviews,
        )
        audit_many(session, audits)
        for item, result in reviewed:
            if not item.accept:
                result.mail_keys = _tell_unit_returned(session, campaign, obligation, item.unit, item.reviewer,
                                                       item.assignment, result.version, result.comment or "",
                                                       actor=item.actor, now=now)
        for item in items:  # keep loaded objects truthful for the caller
            session.expire(item.assignment)
    return results, refused


def _tell_unit_returned(session: Session, campaign: Campaign, obligation: ObligationDef, unit: Unit, reviewer: Unit,
                        assignment: Assignment, version: int, comment: str, *, actor: str, now: datetime) -> list[str]:
    """Queue, at `now`, a mail to the unit's addresses and to whoever sent the returned version: the
    reviewer's comment and a link (signed per recipient when sent). The actor is not told of their own act."""
    from thidua.notifications.outbox import enqueue_many  # the outbox is an adapter of this service

    sender = session.execute(select(S.c.submitted_by).where(S.c.assignment_id == assignment.id,
                                                             S.c.version == version)).scalar()
    recipients = [e.strip().lower() for e in [*(unit.emails or []), sender or ""] if "@" in (e or "")]
    recipients = [e for e in dict.fromkeys(recipients) if e != actor.strip().lower()]
    context = {"unit_name": unit.name, "obligation_title": obligation.title, "reviewer_name": reviewer.name,
               "comment": comment, "version": version, "due_date": fmt_date(assignment.due_on),
               "returned_at": utc_to_local(now, campaign.timezone).strftime("%H:%M %d/%m/%Y")}
    rows = [{"key": f"returned:{assignment.id}:{version}:{email}", "kind": "report_returned", "recipient": email,
             "template": "report_returned", "context": context, "scheduled_at": now, "campaign_id": campaign.id,
             "unit_id": unit.id, "assignment_id": assignment.id} for email in recipients]
    enqueue_many(session, rows)
    return [r["key"] for r in rows]


def _appraised_rating(spec: Obligation, value: str, accept: bool) -> str:
    rating_field = next((f for f in spec.fields if f.code == RATING_FIELD), None)
    if rating_field is None:
        raise FormInvalid("Không thể ghi xếp loại thẩm định:",
                          [FieldError(RATING_FIELD, f"nghĩa vụ '{spec.code}' không có trường xếp loại")])
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
def set_campaign_status(session: Session, campaign_code: str, *, closed: bool, actor: str,
                        now: datetime | None = None) -> bool:
    """Close a campaign (no more submissions or reviews) or reopen it. Returns whether it changed."""
    campaign = get_campaign(session, campaign_code)
    wanted = "closed" if closed else "active"
    if campaign.status == wanted:
        return False
    before = campaign.status
    now = now or utcnow()
    campaign.status = wanted
    campaign.updated_at = now
    audit_many(session, [{"actor": actor, "action": "campaign.closed" if closed else "campaign.reopened",
                          "entity": "campaign", "entity_id": campaign.id, "campaign_id": campaign.id, "at": now,
                          "before": {"status": before}, "after": {"status": wanted}}])
    session.flush()
    return True


# ---------------------------------------------------------------------------------------------------
# Reading what was submitted
# ---------------------------------------------------------------------------------------------------
def history(session: Session, *, campaign_code: str, obligation_code: str, unit_code: str) -> list[Submission]:
    """Every version of a unit's report, oldest first."""
    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    assignment = get_assignment(session, obligation, get_unit(session, unit_code))
    return list(session.execute(
        select(Submission).where(Submission.assignment_id == assignment.id).order_by(Submission.version)  # type: ignore[arg-type]
    ).scalars())


def counted_submission(session: Session, assignment_id: int, accepted_only: bool = True) -> Submission | None:
    """The version that counts for an assignment (see models.submissions.counted_review_statuses)."""
    return session.execute(
        select(Submission).where(Submission.assignment_id == assignment_id,
                                 Submission.review_status.in_(counted_review_statuses(accepted_only)))  # type: ignore[attr-defined]
        .order_by(Submission.version.desc()).limit(1)  # type: ignore[attr-defined]
    ).scalars().first()


def year_end_rating(session: Session, campaign_id: int, unit_id: int) -> str | None:
    """The unit's year-end rating for award eligibility: the superior's appraised rating when it set one,
    else the rating the unit proposed in its final report. None without a counted final report."""
    return year_end_ratings(session, campaign_id, [unit_id])[unit_id]


def year_end_ratings(session: Session, campaign_id: int, unit_ids: Sequence[int]) -> dict[int, str | None]:
    """year_end_rating of many units (the same rule), the final-report obligations read and their forms decoded
    once instead of once per unit."""
    ratings: dict[int, str | None] = dict.fromkeys(unit_ids)
    remaining = set(ratings)
    final = session.execute(
        select(ObligationDef).where(ObligationDef.campaign_id == campaign_id, ObligationDef.kind == "final_report",
                                    ObligationDef.active.is_(True))  # type: ignore[attr-defined]
    ).scalars().all()
    for obligation in final:
        if not remaining:
            break
        spec = obligation_spec(obligation)
        if not any(f.code == RATING_FIELD for f in spec.fields):
            continue
        assignments: dict[int, int] = {}
        for chunk_start in range(0, len(remaining), 500):
            chunk = sorted(remaining)[chunk_start:chunk_start + 500]
            for assignment_id, unit_id in session.execute(
                select(Assignment.id, Assignment.unit_id)  # type: ignore[call-overload]
                .where(Assignment.obligation_id == obligation.id, Assignment.unit_id.in_(chunk))  # type: ignore[attr-defined]
                .order_by(Assignment.id)
            ).all():
                assignments.setdefault(unit_id, assignment_id)  # a unit's first assignment, as scalar() read it
        for unit_id, assignment_id in assignments.items():
            submission = counted_submission(session, assignment_id, spec.consolidate_accepted_only)
            if submission is not None:
                ratings[unit_id] = submission.appraised_rating or submission.data.get(RATING_FIELD)
                remaining.discard(unit_id)
    return ratings


# ---------------------------------------------------------------------------------------------------
# Form files (one unit) and spreadsheets (many units)
# ---------------------------------------------------------------------------------------------------
CODE_ROW_MARK = "ma_don_vi"  # the machine row of a template, under the header labels
UNIT_HEADER = "Mã đơn vị"
META_COLUMNS = [("stt", "STT"), ("ma_don_vi", UNIT_HEADER), ("ten_don_vi", "Tên đơn vị"), ("khu_vuc", "Khu vực")]


def read_form_file(path: Path, fields: Sequence[FormField], *, unit_code: str) -> dict[str, Any]:
    """One unit's form from a .yaml/.json file (field code: value) or an .xlsx file (either a two-column
    sheet of field and value, or a filled-in template from which the unit's row is taken)."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml_form(path)
    if suffix == ".json":
        text = _form_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnreadableFile(f"{path}: lỗi cú pháp JSON ở dòng {exc.lineno}, cột {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise UnreadableFile(f"{path}: cấu trúc JSON lồng nhau quá sâu") from None
        return _as_form_mapping(path, data)
    if suffix == ".xlsx":
        return _read_xlsx_form(path, fields, unit_code)
    raise UnreadableFile(f"{path}: chỉ nhận tệp .yaml, .json hoặc .xlsx")


def _form_text(path: Path) -> str:
    from thidua.models.spec.problems import SpecError
    from thidua.sources import read_text_file

    try:
        return read_text_file(path)
    except SpecError as exc:
        raise UnreadableFile("; ".join(str(p) for p in exc.problems)) from None


def _read_yaml_form(path: Path) -> dict[str, Any]:
    """Read with the same guards as every declarative file (alias bombs, nesting, bad bytes: located)."""
    from thidua.models.spec.problems import SpecError
    from thidua.models.spec.yamlsource import parse_yaml

    try:
        data = parse_yaml(_form_text(path), str(path)).data
    except SpecError as exc:
        raise UnreadableFile("; ".join(str(p) for p in exc.problems)) from None
    return _as_form_mapping(path, data)


def _as_form_mapping(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnreadableFile(f"{path}: tệp phải là các cặp 'mã trường: giá trị'")
    return {str(k): v for k, v in data.items()}


def _field_lookup(fields: Sequence[FormField]) -> dict[str, FormField]:
    """Fields by code and by label (case- and spacing-insensitive), as headers may use either."""
    out: dict[str, FormField] = {}
    for f in fields:
        out[_fold(f.code)] = f
        out[_fold(f.label)] = f
    return out


def _fold(text: Any) -> str:
    """A header or key as typed, without the '(*)' that marks required fields in the template."""
    return re.sub(r"\s*(\(\*\)|\*)$", "", fold(text))


def _read_xlsx_form(path: Path, fields: Sequence[FormField], unit_code: str) -> dict[str, Any]:
    sheet_rows = _xlsx_rows(path)
    if _find_header(sheet_rows) is not None:
        table = _parse_table(path, sheet_rows, fields)
        for row in table.rows:
            if row.unit_code == unit_code:
                return row.values
        raise UnreadableFile(f"{path}: không có dòng nào của đơn vị '{unit_code}'")
    lookup = _field_lookup(fields)
    out: dict[str, Any] = {}
    for _number, cells in sheet_rows:
        if not cells or is_blank(cells[0]):
            continue
        key = _fold(cells[0])
        if key in ("mã trường", "trường", "chỉ tiêu"):
            continue  # header row
        target = lookup.get(key)
        out[target.code if target else str(cells[0]).strip()] = cells[1] if len(cells) > 1 else None
    return out


def _xlsx_rows(path: Path) -> list[tuple[int, list[Any]]]:
    from thidua.xlsx_guard import XlsxRefused, first_sheet_rows

    try:
        return list(first_sheet_rows(path))
    except XlsxRefused as exc:
        raise UnreadableFile(f"{path}:{exc.row}: {exc}" if exc.row else f"{path}: {exc}") from None


def _find_header(rows: list[tuple[int, list[Any]]]) -> int | None:
    for index, (_, cells) in enumerate(rows[:15]):
        if any(not is_blank(c) and _fold(c) == _fold(UNIT_HEADER) for c in cells):
            return index
    return None


@dataclass
class _TableRow:
    row: int
    unit_code: str
    values: dict[str, Any]
    columns: dict[str, str]  # field code -> column letter


@dataclass
class _Table:
    rows: list[_TableRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field code -> column letter
    unit_column: str = "B"


def _parse_table(path: Path, rows: list[tuple[int, list[Any]]], fields: Sequence[FormField]) -> _Table:
    """A sheet with a header row holding 'Mã đơn vị' and the fields (by label, or by code in the machine
    row under it). Column problems are fatal; row problems are collected by the importer."""
    from openpyxl.utils import get_column_letter

    header_index = _find_header(rows)
    assert header_index is not None
    header_number, header = rows[header_index]
    body_start = header_index + 1
    if body_start < len(rows) and any(not is_blank(c) and _fold(c) == CODE_ROW_MARK for c in rows[body_start][1]):
        header_number, header = rows[body_start]
        body_start += 1
    lookup = _field_lookup(fields)
    meta = {_fold(code): code for code, _ in META_COLUMNS} | {_fold(label): code for code, label in META_COLUMNS}
    table = _Table()
    unit_index: int | None = None
    field_columns: dict[int, FormField] = {}
    for index, cell in enumerate(header):
        if is_blank(cell):
            continue
        key = _fold(cell)
        letter = get_column_letter(index + 1)
        if meta.get(key) == "ma_don_vi":
            unit_index = index
            table.unit_column = letter
        elif key in meta:
            continue
        elif key in lookup:
            if lookup[key] in field_columns.values():
                table.problems.append(RowProblem(header_number, letter, str(cell), "cột bị lặp"))
            field_columns[index] = lookup[key]
            table.columns[lookup[key].code] = letter
        else:
            table.problems.append(RowProblem(header_number, letter, str(cell), "không có trường này trong biểu mẫu"))
    for f in fields:
        if f.required and f.code not in table.columns:
            table.problems.append(RowProblem(header_number, "", f.label, f"thiếu cột bắt buộc '{f.label}' [{f.code}]"))
    if unit_index is None:
        table.problems.append(RowProblem(header_number, "", UNIT_HEADER, "thiếu cột mã đơn vị"))
    if table.problems:
        raise ImportRejected(f"{path}: bảng không đúng mẫu, chưa ghi gì:", table.problems)
    assert unit_index is not None
    for number, cells in rows[body_start:]:
        cells = cells + [None] * (len(header) - len(cells))
        values = {f.code: cells[i] for i, f in field_columns.items() if not is_blank(cells[i])}
        code = cells[unit_index]
        if is_blank(code) and not values:
            continue
        table.rows.append(_TableRow(number, "" if is_blank(code) else str(code).strip(), values, table.columns))
    return table


@dataclass
class ImportResult:
    applied: list[SubmitResult]
    problems: list[RowProblem]
    skipped_blank: list[str]  # units whose row was left empty

    def describe(self) -> str:
        lines = [f"Đã ghi {len(self.applied)} báo cáo."]
        if self.skipped_blank:
            lines.append(f"Bỏ qua {len(self.skipped_blank)} dòng để trống: {', '.join(self.skipped_blank)}")
        if self.problems:
            lines.append(f"{len(self.problems)} lỗi, các dòng lỗi không được ghi:")
            lines.extend(f"  • {p}" for p in self.problems)
        return "\n".join(lines)


@owns_transaction
def import_reports(
    session: Session,
    *,
    campaign_code: str,
    obligation_code: str,
    superior_code: str,
    path: Path,
    actor: str,
    partial: bool = False,
    accept: bool = False,
    now: datetime | None = None,
) -> ImportResult:
    """A directly-superior union enters its units' reports from a spreadsheet (one row per unit). Every
    bad row is reported with its row number and column. Without `partial` nothing is written when any row
    is bad; with it the good rows are written. `accept`: the superior vouches for the figures, so they are
    accepted on entry instead of waiting for review."""
    now = now or utcnow()
    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    superior = get_unit(session, superior_code)
    _check_open(campaign)
    _check_window(campaign, obligation, now)
    spec = obligation_spec(obligation)
    table = _parse_table(path, _xlsx_rows(path), spec.fields) if path.suffix.lower() == ".xlsx" else None
    if table is None:
        raise UnreadableFile(f"{path}: nhập hàng loạt chỉ nhận tệp .xlsx (tạo mẫu bằng 'thidua forms template')")
    codes = [r.unit_code for r in table.rows if r.unit_code]
    units = {u.code: u for u in session.execute(select(Unit).where(Unit.code.in_(codes))).scalars()} if codes else {}  # type: ignore[attr-defined]
    assignments = {
        a.unit_id: a for a in session.execute(
            select(Assignment).where(Assignment.obligation_id == obligation.id,
                                     Assignment.unit_id.in_([u.id for u in units.values()]))  # type: ignore[attr-defined]
        ).scalars()
    }
    problems: list[RowProblem] = []
    planned: list[_Planned] = []
    blank: list[str] = []
    seen: dict[str, int] = {}
    unit_column = table.unit_column
    for row in table.rows:
        if not row.unit_code:
            problems.append(RowProblem(row.row, unit_column, UNIT_HEADER, "thiếu mã đơn vị"))
            continue
        if row.unit_code in seen:
            problems.append(RowProblem(row.row, unit_column, UNIT_HEADER,
                                       f"đơn vị '{row.unit_code}' đã có ở dòng {seen[row.unit_code]}"))
            continue
        seen[row.unit_code] = row.row
        unit = units.get(row.unit_code)
        if unit is None:
            problems.append(RowProblem(row.row, unit_column, UNIT_HEADER, f"không có đơn vị mã '{row.unit_code}'"))
            continue
        assignment = assignments.get(unit.id)  # type: ignore[arg-type]
        if assignment is None or not assignment.active:
            problems.append(RowProblem(row.row, unit_column, UNIT_HEADER, f"đơn vị '{unit.code}' không phải nộp '{obligation.code}'"))
            continue
        if assignment.reviewer_unit_id != superior.id:
            problems.append(RowProblem(row.row, unit_column, UNIT_HEADER,
                                       f"đơn vị '{unit.code}' không trực thuộc '{superior.code}', không được nhập thay"))
            continue
        if not row.values:
            blank.append(unit.code)
            continue
        clean, errors = validate_form(spec.fields, row.values, sector=unit.sector, level=unit.level_code,
                                      attributes=unit.attributes)
        if errors:
            problems.extend(RowProblem(row.row, row.columns.get(e.field, ""), e.label or e.field, e.message) for e in errors)
            continue
        planned.append(_Planned(assignment, unit, clean))
    if problems and not partial:
        raise ImportRejected(
            f"{path}: có {len(problems)} lỗi, chưa ghi dòng nào (dùng --partial để ghi các dòng đúng):", problems
        )
    applied = _apply_submissions(session, campaign, obligation, spec, planned, actor=actor, now=now,
                                 source="import", accept=accept)
    return ImportResult(applied=applied, problems=problems, skipped_blank=blank)


def write_form_template(session: Session, *, campaign_code: str, obligation_code: str, superior_code: str,
                        out: Path) -> int:
    """An .xlsx to fill in for the units a superior reviews: one row per unit, its code and name filled,
    one column per field (drop-down lists and number checks from the form). Returns the number of rows."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    superior = get_unit(session, superior_code)
    spec = obligation_spec(obligation)
    units = session.execute(
        select(Unit).join(Assignment, Assignment.unit_id == Unit.id)
        .where(Assignment.obligation_id == obligation.id, Assignment.reviewer_unit_id == superior.id,
               Assignment.active.is_(True)).order_by(Unit.path)  # type: ignore[attr-defined]
    ).scalars().all()
    if not units:
        raise UnknownReference(f"đơn vị '{superior.code}' không duyệt báo cáo '{obligation.code}' của đơn vị nào")

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Nhập liệu"
    lists = workbook.create_sheet("Danh mục")
    lists.sheet_state = "hidden"
    width = len(META_COLUMNS) + len(spec.fields)
    put_cell(sheet, 1, 1, f"{obligation.title} — hạn nộp {fmt_date(obligation.due_on)}").font = Font(bold=True, size=13)
    sheet.cell(2, 1, f"Đơn vị nhập: {superior.name}. Mỗi dòng là báo cáo của một đơn vị trực thuộc; "
                     "(*) là trường bắt buộc; ô màu xám không áp dụng cho khu vực của đơn vị. "
                     "Không sửa dòng mã trường (dòng 4). Dòng để trống được bỏ qua.").alignment = Alignment(wrap_text=True)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    sheet.row_dimensions[2].height = 45
    header_font, code_font = Font(bold=True), Font(italic=True, size=8, color="808080")
    grey = PatternFill("solid", fgColor="D9D9D9")
    for index, (code, label) in enumerate(META_COLUMNS, start=1):
        sheet.cell(3, index, label).font = header_font
        sheet.cell(4, index, code).font = code_font
    first_row, last_row = 5, 4 + len(units)
    for offset, f in enumerate(spec.fields):
        column = len(META_COLUMNS) + 1 + offset
        letter = get_column_letter(column)
        put_cell(sheet, 3, column, f.label + (" (*)" if f.required else "")).font = header_font
        sheet.cell(3, column).alignment = Alignment(wrap_text=True, vertical="top")
        sheet.cell(4, column, f.code).font = code_font
        sheet.column_dimensions[letter].width = 18 if f.type != "text" else 30
        validation = _validation_for(f, lists, offset + 1)
        if validation is not None:
            sheet.add_data_validation(validation)
            validation.add(f"{letter}{first_row}:{letter}{last_row}")
        if f.type == "date":
            for row in range(first_row, last_row + 1):
                sheet.cell(row, column).number_format = "DD/MM/YYYY"
    sheet.row_dimensions[3].height = 48
    for row, unit in enumerate(units, start=first_row):
        sheet.cell(row, 1, row - first_row + 1)
        put_cell(sheet, row, 2, unit.code)
        put_cell(sheet, row, 3, unit.name)
        sheet.cell(row, 4, {"sxkd": "SXKD", "hcsn": "HCSN"}.get(unit.sector or "", ""))
        for offset, f in enumerate(spec.fields):
            if not applies_to(f, unit.sector):
                sheet.cell(row, len(META_COLUMNS) + 1 + offset).fill = grey
    for letter, width_chars in (("A", 5), ("B", 16), ("C", 36), ("D", 9)):
        sheet.column_dimensions[letter].width = width_chars
    sheet.freeze_panes = "E5"
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return len(units)


def _validation_for(f: FormField, lists: Any, list_column: int):  # noqa: ANN202
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    def bounded(kind: str) -> DataValidation:
        if f.min is not None and f.max is not None:
            dv = DataValidation(type=kind, operator="between", formula1=str(f.min), formula2=str(f.max))
        elif f.min is not None:
            dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1=str(f.min))
        elif f.max is not None:
            dv = DataValidation(type=kind, operator="lessThanOrEqual", formula1=str(f.max))
        else:
            dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1="-1E+300")
        dv.error = f"{f.label}: phải là số" + ("" if kind == "decimal" else " nguyên") + _range_text(f)
        return dv

    if f.type == "integer":
        dv = bounded("whole")
    elif f.type == "decimal":
        dv = bounded("decimal")
    elif f.type in ("choice", "bool"):
        options = f.choices if f.type == "choice" else ["có", "không"]
        letter = get_column_letter(list_column)
        for row, option in enumerate(options or [], start=1):
            put_cell(lists, row, list_column, option)
        dv = DataValidation(type="list", formula1=f"='Danh mục'!${letter}$1:${letter}${len(options or [])}")
        dv.error = f"{f.label}: chọn một giá trị trong danh sách"
    elif f.type == "text" and f.max_length:
        dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(f.max_length))
        dv.error = f"{f.label}: tối đa {f.max_length} ký tự"
    else:
        return None
    dv.errorTitle = "Giá trị không hợp lệ"
    dv.showErrorMessage = True
    dv.allow_blank = True
    return dv


def _range_text(f: FormField) -> str:
    if f.min is not None and f.max is not None:
        return f" từ {f.min:g} đến {f.max:g}"
    if f.min is not None:
        return f" từ {f.min:g} trở lên"
    if f.max is not None:
        return f" không quá {f.max:g}"
    return ""
