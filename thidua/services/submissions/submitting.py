"""submissions: Submitting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import bindparam, insert, update
from sqlalchemy.orm import Session

from thidua.audit import audit_many
from thidua.db import owns_transaction
from thidua.models.clock import utcnow
from thidua.models.forms import validate_form
from thidua.models.spec.campaign import Obligation
from thidua.models.status import STATUS_LABELS, AssignmentStatus
from thidua.models.submissions import (
    Action,
    FormInvalid,
    NotPermitted,
    ReviewStatus,
    StaleVersion,
    SubmissionError,
    is_late,
    next_status,
    review_status_on_submit,
)
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit

from .finding import (
    A,
    S,
    _check_open,
    _check_version,
    _check_window,
    get_assignment,
    get_campaign,
    get_obligation,
    get_unit,
    obligation_spec,
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
        return (
            f"Đã ghi báo cáo '{self.obligation_code}' của {self.unit_code}, bản số {self.version}{late}: "
            f"{STATUS_LABELS[self.status]}"
        )


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
    written, refused = submit_many(
        session,
        campaign,
        obligation,
        obligation_spec(obligation),
        [SubmitItem(assignment, unit, raw, actor)],
        now=now,
        source=source,
    )
    for _, error in refused:
        raise error
    return written[0]


def submit_many(
    session: Session,
    campaign: Campaign,
    obligation: ObligationDef,
    spec: Obligation,
    items: Sequence[SubmitItem],
    *,
    now: datetime,
    source: str,
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
        clean, errors = validate_form(
            spec.fields, item.raw, sector=item.unit.sector, level=item.unit.level_code, attributes=item.unit.attributes
        )
        if errors:
            refused.append(
                (
                    item,
                    FormInvalid(
                        f"Báo cáo '{obligation.code}' của đơn vị {item.unit.code} không hợp lệ, chưa ghi gì:", errors
                    ),
                )
            )
            continue
        planned.append(_Planned(item.assignment, item.unit, clean, item.actor))
    written = _apply_submissions(
        session, campaign, obligation, spec, planned, actor=None, now=now, source=source, accept=False
    )
    return written, refused


def _apply_submissions(
    session: Session,
    campaign: Campaign,
    obligation: ObligationDef,
    spec: Obligation,
    planned: Sequence[_Planned],
    *,
    actor: str | None,
    now: datetime,
    source: str,
    accept: bool,
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
        status = (
            AssignmentStatus.ACCEPTED
            if accept
            else next_status(a.status, Action.SUBMIT, review_required=spec.review_required)
        )
        version = a.current_version + 1
        late_now = is_late(now, a.due_at)
        first_submitted_at = a.submitted_at or now
        # Lateness of the assignment is that of its first report: a report sent on time and later returned
        # for correction is not late (each version keeps its own flag).
        assignment_late = a.late if a.submitted_at is not None else late_now
        submissions.append(
            {
                "assignment_id": a.id,
                "obligation_id": obligation.id,
                "unit_id": item.unit.id,
                "version": version,
                "data": item.data,
                "submitted_by": by,
                "submitted_at": now,
                "source": source,
                "late": late_now,
                "review_status": review.value,
                "review_comment": None,
                "reviewed_by": by if review is ReviewStatus.ACCEPTED else None,
                "reviewed_at": now if review is ReviewStatus.ACCEPTED else None,
                "appraised_rating": None,
            }
        )
        updates.append(
            {
                "b_id": a.id,
                "b_version": a.version,
                "b_status": status.value,
                "b_submitted_at": first_submitted_at,
                "b_reviewed_at": now if status is AssignmentStatus.ACCEPTED else a.reviewed_at,
                "b_late": assignment_late,
                "b_current_version": version,
                "b_new_version": a.version + 1,
            }
        )
        audits.append(
            {
                "actor": by,
                "action": "submission.accepted_on_entry" if accept else "submission.submitted",
                "entity": "assignment",
                "entity_id": a.id,
                "campaign_id": campaign.id,
                "unit_id": item.unit.id,
                "at": now,
                "before": {"status": a.status, "current_version": a.current_version},
                "after": {"status": status.value, "current_version": version, "late": late_now, "source": source},
            }
        )
        results.append(SubmitResult(a.id, item.unit.code, obligation.code, version, status, late_now, item.data))  # type: ignore[arg-type]
    # The version-checked update goes first: a concurrent writer makes it match fewer rows (StaleVersion)
    # before anything else is written.
    _update_assignments(session, updates, now)
    ids = [item.assignment.id for item in planned]
    session.execute(
        update(S)
        .where(S.c.assignment_id.in_(ids), S.c.review_status == ReviewStatus.PENDING.value)
        .values(review_status=ReviewStatus.SUPERSEDED.value)
    )
    session.execute(insert(S), submissions)
    audit_many(session, audits)
    _queue_report_copies(session, campaign, obligation, spec, planned, results, now)
    for item in planned:  # keep loaded objects truthful for the caller
        session.expire(item.assignment)
    return results


def _queue_report_copies(
    session: Session,
    campaign: Campaign,
    obligation: ObligationDef,
    spec: Obligation,
    planned: Sequence[_Planned],
    results: Sequence[SubmitResult],
    now: datetime,
) -> None:
    """A copy of each new version for the obligation's recipients outside the tree (one mail per version and
    address: the outbox key makes a retried submission queue nothing twice)."""
    recipients = spec.copy_recipients()
    if not recipients:
        return
    from thidua.notifications.outbox import enqueue_many  # noqa: PLC0415

    labels = {f.code: f.label for f in spec.fields}
    rows = []
    for item, result in zip(planned, results):
        lines = [
            f"- {labels.get(code, code)}: {_shown(value)}"
            for code, value in item.data.items()
            if value not in (None, "")
        ]
        body = (
            f"{item.unit.name} đã gửi “{obligation.title}” (bản số {result.version}) trong "
            f"“{campaign.title}”.\n\n" + "\n".join(lines)
        )
        for name, address in recipients:
            rows.append(
                {
                    "key": f"copy:{result.assignment_id}:{result.version}:{address.lower()}",
                    "kind": "report_copy",
                    "recipient": address,
                    "template": "generic",
                    "campaign_id": campaign.id,
                    "unit_id": item.unit.id,
                    "scheduled_at": now,
                    "context": {
                        "subject": f"Bản sao báo cáo: {obligation.title} — {item.unit.name}",
                        "greeting": f"Kính gửi {name}," if name else "",
                        "body": body,
                    },
                }
            )
    enqueue_many(session, rows)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "có" if value else "không"
    return str(value)


def _update_assignments(session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
    statement = (
        update(A)
        .where(A.c.id == bindparam("b_id"), A.c.version == bindparam("b_version"))
        .values(
            status=bindparam("b_status"),
            submitted_at=bindparam("b_submitted_at"),
            reviewed_at=bindparam("b_reviewed_at"),
            late=bindparam("b_late"),
            current_version=bindparam("b_current_version"),
            version=bindparam("b_new_version"),
            updated_at=now,
        )
    )
    changed = session.execute(statement, rows).rowcount
    if changed != len(rows):
        raise StaleVersion("một báo cáo vừa được người khác thay đổi cùng lúc; chưa ghi gì, hãy thử lại")
