"""Reminder e-mail: plan what is due, preview it, and dispatch the outbox (claim → send → record).

Flow of one dispatch pass (`run_dispatch`), each step a short transaction:

1. `recover_expired_claims`: rows a dead dispatcher had claimed come back. Rows never handed to SMTP go
   back to `pending`; rows that may have reached the server become `unknown` (never resent
   automatically: an operator decides with `thidua reminders resolve-unknown --resend|--mark-sent`).
2. `plan_due`: set-based. For each (obligation, due date) with owing assignments, the ladder is expanded
   in Python (models/reminders.py; a handful of occurrences) and the one occurrence current at `now` is
   inserted for every owing assignment × unit address with one INSERT … SELECT … ON CONFLICT DO NOTHING.
   Keys (`rem:{assignment}:{rung}:{n}:{email}`) make a second insert of the same reminder a no-op, so a
   moved deadline or a new unit only changes what is computed next, and no rung is ever sent twice.
   Escalation digests (one per parent unit per day) and the office digest are planned the same way.
3. `claim_batch`: marks up to `batch_size` due rows `claimed` with a lease (PostgreSQL: FOR UPDATE SKIP
   LOCKED; SQLite: the UPDATE … WHERE id IN (SELECT … LIMIT n) AND status='pending' is atomic).
4. `send_batch`: re-checks every row against the database at send time (submitted / inactive → `skipped`),
   renders, builds and delivers over a few SMTP connections, recording results as they arrive.

"Handed over" bookkeeping: before a message can be given to SMTP its row gets its `message_id`. Rows are
marked in windows ahead of the transport (see `_Recorder`), so after a crash a claimed row without a
`message_id` was certainly never sent (safe to retry) and one with a `message_id` might have been.

`now` (aware UTC) is the engine's clock for everything scheduled or recorded, so a whole year can be
replayed; leases use the real clock because they are about live processes.

Errors: `RemindersError` ├ `CampaignNotFound`, `UnitNotFound` (bad input) ├ `SmtpRefused` (permanent: the
server refuses our session, e.g. 535 bad credentials; nothing more is sent until fixed). Temporary SMTP
trouble is not an exception: the rows go back to `pending` with a backoff and the pass stops early.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import time as _time
import unicodedata
import uuid
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Awaitable, Callable, ClassVar, Iterable, Sequence

from sqlalchemy import String, and_, bindparam, cast, exists, func, literal, not_, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.errors import Category, NotFoundError, RefusedError, ThiduaError, UnavailableError
from thidua.models.clock import DEFAULT_TZ, end_of_day_utc, fmt_date, fmt_datetime, local_to_utc, utc_to_local, utcnow
from thidua.models.outbox import OutboxMessage, OutboxStatus
from thidua.models.reminders import (
    MAX_QUEUED_EMAIL_LENGTH, Occurrence, Phase, current_occurrence, days_left, deadline_phrase, escalation_key,
    failure_report_key, is_plausible_email, normalize_email, occurrences_between, office_digest_due,
    office_digest_key, office_digest_period, reminder_key, schedule,
)
from thidua.models.spec.reminders import Ladder
from thidua.models.status import SUBMITTED_STATUSES, AssignmentStatus
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.models.vnformat import fmt_share
from thidua.models.workcalendar import WorkingCalendar, parse_hhmm
from thidua.notifications.message import build_message, message_id_for
from thidua.notifications.render import Renderer, TemplateRenderError, get_renderer
from thidua.notifications.transport import (
    DeliveryAborted, DeliveryResult, DeliveryStream, OutgoingMessage, SmtpSettings, deliver,
)
from thidua.audit import audit_many
from thidua.services.campaign_context import (
    CampaignContext,
    active_campaign_contexts,
    campaign_calendar,
)
from thidua.services.campaign_context import campaign_context as shared_campaign_context
from thidua.services.campaigns import subtree_range
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)
from thidua.services.optout import NON_MANDATORY_KINDS, opted_out, unsubscribe_url
from thidua.settings import Settings

O = OutboxMessage.__table__  # type: ignore[attr-defined]
A = Assignment.__table__  # type: ignore[attr-defined]
U = Unit.__table__  # type: ignore[attr-defined]
OB = ObligationDef.__table__  # type: ignore[attr-defined]
C = Campaign.__table__  # type: ignore[attr-defined]

DEFAULT_LEASE = timedelta(minutes=10)
RECORD_EVERY = 50  # results written per transaction (also bounds the "maybe sent" window after a crash)
RECORD_MAX_DELAY_S = 1.0  # ...or sooner when results come slowly
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
GIVE_UP_AFTER_ATTEMPTS = 40
DIGEST_LIST_LIMIT = 50
SYSTEM_ACTOR = "system:reminders"

STATUS_LABELS = {
    "pending": "Chờ gửi", "claimed": "Đang gửi", "sent": "Đã gửi", "partial": "Gửi được một phần",
    "failed": "Thất bại", "unknown": "Chưa rõ kết quả", "skipped": "Bỏ qua",
}
KIND_LABELS = {
    "reminder": "nhắc hạn", "escalation": "báo cấp trên", "office_digest": "tổng hợp cho văn phòng",
    "failure_report": "báo lỗi gửi thư",
}
_PROBLEM_STATUSES = (OutboxStatus.FAILED.value, OutboxStatus.PARTIAL.value, OutboxStatus.UNKNOWN.value)
# Digest mail reports on the others; its own failures are listed in the next digest, never re-reported.
_REPORTING_KINDS = ("office_digest", "failure_report")


# ---------------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------------
class RemindersError(ThiduaError):
    """Base of the reminder service's errors; messages are Vietnamese and meant for users."""

    category: ClassVar[Category] = RefusedError.category


class CampaignNotFound(NotFoundError, RemindersError):
    pass


class UnitNotFound(NotFoundError, RemindersError):
    pass


class SmtpRefused(UnavailableError, RemindersError):
    """Permanent: the SMTP server refuses our session (credentials, TLS, policy). Retrying will not help."""

    retryable = False


# ---------------------------------------------------------------------------------------------------
# Campaign context (services/campaign_context.py), with this service's not-found error
# ---------------------------------------------------------------------------------------------------
def campaign_context(session: Session, code: str) -> CampaignContext:
    return shared_campaign_context(session, code, error=CampaignNotFound)


def _active_campaigns(session: Session, code: str | None) -> list[CampaignContext]:
    if code is not None:
        return [campaign_context(session, code)]
    return active_campaign_contexts(session)


# ---------------------------------------------------------------------------------------------------
# Owing assignments, grouped by (obligation, due date): the unit of planning
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObligationGroup:
    obligation_id: int
    code: str
    title: str
    due_on: date
    opens_on: date | None
    ladder: Ladder

    def occurrences(self, ctx: CampaignContext) -> list[Occurrence]:
        not_before = max(self.opens_on or ctx.starts_on, ctx.starts_on)
        return schedule(self.ladder, self.due_on, ctx.calendar, ctx.timezone, not_before=not_before)

    def due_at(self, ctx: CampaignContext) -> datetime:
        return end_of_day_utc(self.due_on, ctx.timezone)


def _owing(group: ObligationGroup, as_of: datetime | None = None):
    """Assignments of a group that still owe a submission (checked again at send time); `as_of`: as things
    stood then (a preview of a past moment)."""
    from thidua.services.status import state_as_of

    status, _ = state_as_of(as_of)
    return and_(
        A.c.obligation_id == group.obligation_id, A.c.due_on == group.due_on, A.c.active.is_(True),
        status.not_in(SUBMITTED_STATUSES), U.c.active.is_(True),
    )


def obligation_groups(session: Session, ctx: CampaignContext, as_of: datetime | None = None) -> list[ObligationGroup]:
    from thidua.services.status import state_as_of

    if not ctx.active:
        return []
    status, _ = state_as_of(as_of)
    rows = session.execute(
        select(OB.c.id, OB.c.code, OB.c.title, OB.c.opens_on, OB.c.ladder, A.c.due_on)
        .select_from(A.join(OB, OB.c.id == A.c.obligation_id).join(U, U.c.id == A.c.unit_id))
        .where(A.c.campaign_id == ctx.id, OB.c.active.is_(True), A.c.active.is_(True),
               status.not_in(SUBMITTED_STATUSES), U.c.active.is_(True))
        .group_by(OB.c.id, OB.c.code, OB.c.title, OB.c.opens_on, OB.c.ladder, A.c.due_on)
        .order_by(A.c.due_on, OB.c.id)
    ).all()
    groups = []
    for row in rows:
        ladder = ctx.ladders.get(row.ladder or "")
        if ladder is not None:
            groups.append(ObligationGroup(row.id, row.code, row.title, row.due_on, row.opens_on, ladder))
    return groups


def _email_elements(session: Session, emails_column: Any, name: str):
    """The addresses of a unit's JSON e-mail list as rows (column `value`), per dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.json_array_elements_text(emails_column).table_valued("value").lateral(name)
    return func.json_each(emails_column).table_valued("value").alias(name)


def _insert_ignoring_duplicates(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        return pg_insert(O).on_conflict_do_nothing(index_elements=["key"])
    return sqlite_insert(O).on_conflict_do_nothing(index_elements=["key"])


def _count_inserted(session: Session, statement: Any) -> int:
    # RETURNING, because psycopg reports no rowcount for INSERT … SELECT … ON CONFLICT through SQLAlchemy.
    return len(session.execute(statement.returning(O.c.id)).all())


_PLANNED_COLUMNS = ["key", "kind", "campaign_id", "assignment_id", "unit_id", "rung", "recipient", "template",
                    "context", "scheduled_at", "status", "attempts", "created_at"]


def _const(value: Any, column: str):
    return literal(value, O.c[column].type)


# ---------------------------------------------------------------------------------------------------
# Planning (set-based)
# ---------------------------------------------------------------------------------------------------
@dataclass
class PlanResult:
    reminders: int = 0
    escalations: int = 0
    office_digests: int = 0


def plan_due(engine: Engine, *, now: datetime, campaign_code: str | None = None) -> PlanResult:
    """Queue every reminder, escalation digest and office digest due at `now` that is not queued yet."""
    result = PlanResult()
    with Session(engine) as session, session.begin():
        for ctx in _active_campaigns(session, campaign_code):
            _plan_campaign(session, ctx, now, result)
    return result


def _plan_campaign(session: Session, ctx: CampaignContext, now: datetime, result: PlanResult) -> None:
    audits: list[dict[str, Any]] = []
    groups = obligation_groups(session, ctx)
    # Reminders are only queued at a working moment: one that became current on a day off (e.g. a report
    # returned on a Saturday) waits for the next working slot instead of going out at once.
    working = ctx.calendar.is_working_moment(utc_to_local(now, ctx.timezone).replace(tzinfo=None))
    for group in groups if working else ():
        occurrence = current_occurrence(group.occurrences(ctx), now, group.due_at(ctx))
        if occurrence is None:
            continue
        count = _plan_reminders(session, ctx, group, occurrence, now)
        result.reminders += count
        if count:
            audits.append(_audit_row("reminders.planned", "obligation", group.obligation_id, ctx.id,
                                     {"rung": occurrence.occurrence_id, "due_on": group.due_on, "count": count}))
        if occurrence.escalate and occurrence.phase is Phase.OVERDUE:
            escalated = _plan_escalations(session, ctx, group, occurrence, now)
            result.escalations += escalated
            if escalated:
                audits.append(_audit_row("escalations.planned", "obligation", group.obligation_id, ctx.id,
                                         {"rung": occurrence.occurrence_id, "count": escalated}))
    if _plan_office_digest(session, ctx, groups, now):
        result.office_digests += 1
        audits.append(_audit_row("office_digest.planned", "campaign", ctx.id, ctx.id, {"date": ctx.today(now)}))
    audit_many(session, audits)


def _plan_reminders(session: Session, ctx: CampaignContext, group: ObligationGroup, occurrence: Occurrence,
                    now: datetime) -> int:
    emails = _email_elements(session, U.c.emails, "e")
    address = func.lower(func.trim(emails.c.value))
    occurrence_id = occurrence.occurrence_id
    key = literal("rem:") + cast(A.c.id, String) + literal(f":{occurrence_id}:") + address
    template = "reminder_upcoming" if occurrence.phase is Phase.BEFORE else "reminder_overdue"
    context = {"phase": occurrence.phase.value, "escalate": occurrence.escalate}
    already = exists().where(O.c.assignment_id == A.c.id, O.c.rung == occurrence_id)
    rows = (
        select(key, _const("reminder", "kind"), A.c.campaign_id, A.c.id, A.c.unit_id, _const(occurrence_id, "rung"),
               address, _const(template, "template"), _const(context, "context"),
               _const(occurrence.send_at, "scheduled_at"), _const(OutboxStatus.PENDING.value, "status"),
               _const(0, "attempts"), _const(now, "created_at"))
        .select_from(A.join(U, U.c.id == A.c.unit_id).join(emails, true()))
        .where(_owing(group), func.length(address).between(3, MAX_QUEUED_EMAIL_LENGTH), not_(already))
    )
    return _count_inserted(session, _insert_ignoring_duplicates(session).from_select(_PLANNED_COLUMNS, rows))


def _plan_escalations(session: Session, ctx: CampaignContext, group: ObligationGroup, occurrence: Occurrence,
                      now: datetime) -> int:
    parent = U.alias("parent")
    emails = _email_elements(session, parent.c.emails, "pe")
    address = func.lower(func.trim(emails.c.value))
    recipients = (  # one row per (parent, address) however many children are overdue
        select(parent.c.id.label("parent_id"), address.label("address"))
        .select_from(A.join(U, U.c.id == A.c.unit_id).join(parent, parent.c.id == U.c.parent_id).join(emails, true()))
        .where(_owing(group), parent.c.active.is_(True), func.length(address).between(3, MAX_QUEUED_EMAIL_LENGTH))
        .distinct().subquery("recipients")
    )
    key = (literal(f"esc:{ctx.id}:") + cast(recipients.c.parent_id, String) + literal(f":{occurrence.day:%Y%m%d}:")
           + recipients.c.address)
    rows = select(
        key, _const("escalation", "kind"), _const(ctx.id, "campaign_id"), _const(None, "assignment_id"),
        recipients.c.parent_id, _const(None, "rung"), recipients.c.address, _const("digest_parent", "template"),
        _const({"day": occurrence.day.isoformat()}, "context"), _const(occurrence.send_at, "scheduled_at"),
        _const(OutboxStatus.PENDING.value, "status"), _const(0, "attempts"), _const(now, "created_at"),
    ).where(true())  # SQLite needs a WHERE before ON CONFLICT to parse INSERT … SELECT … FROM (subquery)
    return _count_inserted(session, _insert_ignoring_duplicates(session).from_select(_PLANNED_COLUMNS, rows))


def _digest_window_end(ctx: CampaignContext, groups: Sequence[ObligationGroup]) -> date:
    """Office digests run while the campaign runs and while an owed report is still being chased."""
    last = ctx.ends_on
    for group in groups:
        reach = max((step.until_offset_days or step.offset_days) for step in group.ladder.rungs)
        last = max(last, group.due_on + timedelta(days=max(reach, 0)))
    return last


def _office_slot(ctx: CampaignContext, day: date) -> datetime:
    assert ctx.default_ladder is not None
    return local_to_utc(ctx.calendar.next_working_slot(datetime.combine(day, parse_hhmm(ctx.default_ladder.send_time))),
                        ctx.timezone)


def _plan_office_digest(session: Session, ctx: CampaignContext, groups: Sequence[ObligationGroup], now: datetime) -> bool:
    frequency = ctx.office_frequency
    today = ctx.today(now)
    if frequency == "none" or not ctx.owner_email or not ctx.calendar.is_working_day(today):
        return False
    if not ctx.starts_on <= today <= _digest_window_end(ctx, groups) or now < _office_slot(ctx, today):
        return False
    # Weekly digests catch up on a later working day of the week if the first one was missed.
    period = office_digest_period(frequency, today)
    row = {"key": office_digest_key(ctx.id, period), "kind": "office_digest", "campaign_id": ctx.id,
           "assignment_id": None, "unit_id": None, "rung": None, "recipient": normalize_email(ctx.owner_email),
           "template": "digest_office", "context": {"period": period, "frequency": frequency},
           "scheduled_at": now, "status": OutboxStatus.PENDING.value, "attempts": 0, "created_at": now}
    return bool(_count_inserted(session, _insert_ignoring_duplicates(session).values(**row)))


def plan_failure_reports(engine: Engine, campaign_ids: Iterable[int], now: datetime) -> int:
    queued = 0
    with Session(engine) as session, session.begin():
        for campaign_id in sorted(set(campaign_ids)):
            row = session.execute(select(C.c.owner_email, C.c.timezone).where(C.c.id == campaign_id)).first()
            if row is None or not row.owner_email:
                continue
            day = utc_to_local(now, row.timezone).date()
            values = {"key": failure_report_key(campaign_id, day), "kind": "failure_report", "campaign_id": campaign_id,
                      "assignment_id": None, "unit_id": None, "rung": None, "recipient": normalize_email(row.owner_email),
                      "template": "failure_report", "context": {"day": day.isoformat()}, "scheduled_at": now,
                      "status": OutboxStatus.PENDING.value, "attempts": 0, "created_at": now}
            if _count_inserted(session, _insert_ignoring_duplicates(session).values(**values)):
                queued += 1
                audit_many(session, [_audit_row("failure_report.planned", "campaign", campaign_id, campaign_id,
                                                {"date": day})])
    return queued


def _audit_row(action: str, entity: str, entity_id: Any, campaign_id: int | None, after: dict[str, Any],
               actor: str = SYSTEM_ACTOR, note: str = "") -> dict[str, Any]:
    return {"actor": actor, "action": action, "entity": entity, "entity_id": entity_id, "campaign_id": campaign_id,
            "after": after, "note": note}


# ---------------------------------------------------------------------------------------------------
# Preview: what will go out in the next days (read-only)
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PreviewUnit:
    unit_id: int
    code: str
    name: str
    recipients: tuple[str, ...]
    assignment_id: int | None = None
    returned: bool = False


@dataclass
class PreviewBatch:
    """Mail of one kind going out at one moment: a reminder occurrence of one obligation, the escalation
    digests of one day, or one office digest."""

    send_at: datetime
    kind: str
    units: list[PreviewUnit]
    obligation_code: str = ""
    obligation_title: str = ""
    due_on: date | None = None
    occurrence: Occurrence | None = None

    @property
    def mail_count(self) -> int:
        return sum(len(u.recipients) for u in self.units)


@dataclass
class Preview:
    campaign: CampaignContext
    start: datetime
    end: datetime
    batches: list[PreviewBatch]
    units_without_email: list[PreviewUnit]

    @property
    def mail_count(self) -> int:
        return sum(b.mail_count for b in self.batches)


def _unit_recipients(emails: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for email in emails or []:
        address = normalize_email(str(email))
        if 3 <= len(address) <= MAX_QUEUED_EMAIL_LENGTH:
            seen.setdefault(address, None)
    return tuple(seen)


def preview(engine: Engine, code: str, *, now: datetime, days: int = 30, unit_code: str | None = None) -> Preview:
    """Every mail the engine would send from `now` for `days` days, if nobody submits meanwhile.
    Reminders already in the outbox are left out (they are in `status`). `unit_code` restricts the
    preview to a unit's subtree."""
    end = now + timedelta(days=days)
    with Session(engine) as session:
        ctx = campaign_context(session, code)
        low, high = subtree_range(ctx.root_path)
        if unit_code is not None:
            path = session.execute(select(U.c.path).where(U.c.code == unit_code)).scalar_one_or_none()
            if path is None:
                raise UnitNotFound(f"không có đơn vị mã '{unit_code}'")
            low, high = subtree_range(path)
        batches: list[PreviewBatch] = []
        escalations: dict[date, dict[int, PreviewUnit]] = defaultdict(dict)
        escalation_moment: dict[date, datetime] = {}
        without_email: dict[int, PreviewUnit] = {}
        # The world as it stood at `now` (a preview inside a replayed year): what was owed and queued then.
        groups = obligation_groups(session, ctx, as_of=now)
        for group in groups:
            occurrences = group.occurrences(ctx)
            due_at = group.due_at(ctx)
            upcoming = occurrences_between(occurrences, now, end)
            current = current_occurrence(occurrences, now, due_at)
            if current is not None and current not in upcoming:
                upcoming.insert(0, current)
            if not upcoming:
                continue
            parent = U.alias("parent")
            rows = session.execute(
                select(A.c.id, A.c.status, U.c.id.label("unit_id"), U.c.code, U.c.name, U.c.emails,
                       parent.c.id.label("parent_id"), parent.c.code.label("parent_code"),
                       parent.c.name.label("parent_name"), parent.c.emails.label("parent_emails"),
                       parent.c.active.label("parent_active"))
                .select_from(A.join(U, U.c.id == A.c.unit_id).outerjoin(parent, parent.c.id == U.c.parent_id))
                .where(_owing(group, now), U.c.path >= low, U.c.path < high)
                .order_by(U.c.path)
            ).all()
            queued = {(r.assignment_id, r.rung) for r in session.execute(
                select(O.c.assignment_id, O.c.rung).select_from(A.join(U, U.c.id == A.c.unit_id).join(O, O.c.assignment_id == A.c.id))
                .where(_owing(group, now), U.c.path >= low, U.c.path < high, O.c.kind == "reminder", O.c.created_at <= now)
            )}
            units = []
            for row in rows:
                recipients = _unit_recipients(row.emails)
                unit = PreviewUnit(row.unit_id, row.code, row.name, recipients, row.id,
                                   row.status == AssignmentStatus.RETURNED.value)
                if recipients:
                    units.append(unit)
                else:
                    without_email[row.unit_id] = unit
            for occurrence in upcoming:
                pending_units = [u for u in units if (u.assignment_id, occurrence.occurrence_id) not in queued]
                send_at = max(occurrence.send_at, now)
                if pending_units:
                    batches.append(PreviewBatch(send_at, "reminder", pending_units, group.code, group.title,
                                                group.due_on, occurrence))
                if occurrence.escalate and occurrence.phase is Phase.OVERDUE:
                    escalation_moment.setdefault(occurrence.day, send_at)
                    for row in rows:
                        if row.parent_id is not None and row.parent_active:
                            escalations[occurrence.day].setdefault(row.parent_id, PreviewUnit(
                                row.parent_id, row.parent_code, row.parent_name, _unit_recipients(row.parent_emails)))
        already = set(session.execute(select(O.c.key).where(O.c.campaign_id == ctx.id, O.c.kind == "escalation",
                                                            O.c.created_at <= now)).scalars())
        for day, parents in escalations.items():
            waiting = []
            for unit in parents.values():
                recipients = tuple(r for r in unit.recipients if escalation_key(ctx.id, unit.unit_id, day, r) not in already)
                if recipients:
                    waiting.append(PreviewUnit(unit.unit_id, unit.code, unit.name, recipients))
            if waiting:
                batches.append(PreviewBatch(escalation_moment[day], "escalation", waiting))
        if unit_code is None:
            batches.extend(_preview_office_digests(session, ctx, groups, now, end))
    batches.sort(key=lambda b: (b.send_at, b.kind, b.obligation_code))
    return Preview(ctx, now, end, batches, sorted(without_email.values(), key=lambda u: u.code))


def _preview_office_digests(session: Session, ctx: CampaignContext, groups: Sequence[ObligationGroup],
                            now: datetime, end: datetime) -> list[PreviewBatch]:
    if ctx.office_frequency == "none" or not ctx.owner_email:
        return []
    queued = set(session.execute(select(O.c.key).where(O.c.campaign_id == ctx.id, O.c.kind == "office_digest",
                                                       O.c.created_at <= now)).scalars())
    office = PreviewUnit(0, ctx.code, ctx.owner_department, (normalize_email(ctx.owner_email),))
    batches = []
    today = ctx.today(now)
    day, last = today, min(utc_to_local(end, ctx.timezone).date(), _digest_window_end(ctx, groups))
    while day <= last:
        key = office_digest_key(ctx.id, office_digest_period(ctx.office_frequency, day))
        if day >= ctx.starts_on and key not in queued:
            moment = _office_slot(ctx, day)
            if office_digest_due(ctx.office_frequency, day, ctx.calendar) and now <= moment < end:
                batches.append(PreviewBatch(moment, "office_digest", [office]))
            elif day == today and ctx.calendar.is_working_day(day) and moment < now:
                batches.append(PreviewBatch(now, "office_digest", [office]))  # today's, not sent yet: goes now
        day += timedelta(days=1)
    return batches


# ---------------------------------------------------------------------------------------------------
# Mail contents (shared by dispatch and by `reminders render`)
# ---------------------------------------------------------------------------------------------------
# CampaignInfo and campaign_infos: the one light campaign record, shared with nominations (services/lookup.py).


def sole_office(session: Session) -> CampaignInfo | None:
    """The office that answers mail without a campaign (sign-in links): the owner of the active campaigns when
    they all have one owner address; None when there are several."""
    rows = session.execute(select(C.c.id, C.c.owner_email).where(C.c.status == "active").order_by(C.c.id)).all()
    if not rows or len({r.owner_email for r in rows}) != 1:
        return None
    return campaign_infos(session, [rows[0].id])[rows[0].id]


def obligation_link(base_url: str, assignment_id: int) -> str:
    return f"{base_url.rstrip('/')}/don-vi/nghia-vu/{assignment_id}"


def signed_obligation_link(settings: Settings, recipient: str, unit_id: int, assignment_id: int, now: datetime) -> str:
    """The link a reminder carries: it opens the obligation and signs the recipient in for that unit.
    Signing belongs to the web adapter's sign-in scheme; it needs no database."""
    from thidua.links import make_obligation_link

    return make_obligation_link(settings, recipient, unit_id, assignment_id, now=now)


def reminder_context(campaign: CampaignInfo, *, unit_name: str, obligation_title: str, due_on: date, today: date,
                     assignment_id: int, base_url: str, returned: bool, escalated_to: str = "",
                     link: str | None = None) -> dict[str, Any]:
    days = days_left(due_on, today)
    return {
        **campaign.layout, "unit_name": unit_name, "obligation_title": obligation_title, "due_date": fmt_date(due_on),
        "days_left": days, "overdue_days": max(0, -days), "phrase": deadline_phrase(days),
        "link": link or obligation_link(base_url, assignment_id), "returned": returned, "escalated_to": escalated_to,
    }


def _overdue_children(session: Session, pairs: set[tuple[int, int]], at: datetime) -> dict[tuple[int, int], list[Any]]:
    """(campaign, parent) -> overdue owing assignments of its children at `at`."""
    if not pairs:
        return {}
    campaign_ids = {c for c, _ in pairs}
    parent_ids = {p for _, p in pairs}
    rows = session.execute(
        select(A.c.campaign_id, U.c.parent_id, U.c.code, U.c.name, A.c.id, A.c.due_on, A.c.status, OB.c.title)
        .select_from(A.join(U, U.c.id == A.c.unit_id).join(OB, OB.c.id == A.c.obligation_id))
        .where(U.c.parent_id.in_(parent_ids), A.c.campaign_id.in_(campaign_ids), A.c.active.is_(True),
               OB.c.active.is_(True), U.c.active.is_(True), A.c.status.not_in(SUBMITTED_STATUSES), A.c.due_at < at)
        .order_by(U.c.parent_id, U.c.path, A.c.due_on)
    ).all()
    out: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for row in rows:
        if (row.campaign_id, row.parent_id) in pairs:
            out[(row.campaign_id, row.parent_id)].append(row)
    return out


def parent_digest_context(campaign: CampaignInfo, *, parent_name: str, children: Sequence[Any], today: date,
                          base_url: str) -> dict[str, Any]:
    rows = [
        {"unit_name": c.name, "unit_code": c.code, "obligation_title": c.title, "due_date": fmt_date(c.due_on),
         "overdue_days": -days_left(c.due_on, today), "returned": c.status == AssignmentStatus.RETURNED.value,
         "link": obligation_link(base_url, c.id)}
        for c in children
    ]
    return {**campaign.layout, "parent_name": parent_name, "date": fmt_date(today), "rows": rows,
            "unit_count": len({c.code for c in children}), "item_count": len(rows)}


def _failure_rows(session: Session, campaign_id: int, start: datetime, end: datetime, limit: int) -> tuple[list[dict[str, Any]], int]:
    condition = and_(O.c.campaign_id == campaign_id, O.c.status.in_(_PROBLEM_STATUSES),
                     O.c.scheduled_at >= start, O.c.scheduled_at < end)
    total = session.execute(select(func.count()).select_from(O).where(condition)).scalar_one()
    rows = session.execute(
        select(O.c.recipient, O.c.kind, O.c.status, O.c.last_error, U.c.name)
        .select_from(O.outerjoin(U, U.c.id == O.c.unit_id)).where(condition).order_by(O.c.id.desc()).limit(limit)
    ).all()
    listed = [{"recipient": r.recipient, "unit_name": r.name or "—", "kind_label": KIND_LABELS.get(r.kind, r.kind),
               "status_label": STATUS_LABELS.get(r.status, r.status), "error": r.last_error or ""} for r in rows]
    return listed, total - len(listed)


def email_problems(emails: Any) -> str | None:
    """Why a unit cannot receive mail, or None."""
    return _email_problems(tuple(str(e) for e in (emails or [])))


@lru_cache(maxsize=65536)  # every office digest checks every unit's list again; the lists rarely change
def _email_problems(emails: tuple[str, ...]) -> str | None:
    addresses = [e for e in emails if e.strip()]
    if not addresses:
        return "chưa có địa chỉ e-mail"
    bad = [a for a in addresses if not is_plausible_email(a)]
    if bad:
        return "địa chỉ không hợp lệ: " + ", ".join(bad)
    return None


_DIGEST_STATUSES = ("sent", "failed", "partial", "unknown")


def office_digest_context(session: Session, campaign: CampaignInfo, *, now: datetime, frequency: str) -> dict[str, Any]:
    today = utc_to_local(now, campaign.timezone).date()
    from thidua.services.status import rollup_columns  # the one roll-up definition (CLI, web, digests, reports)

    owed, submitted, accepted, returned, overdue, late_submitted = rollup_columns(now)
    stats = session.execute(
        select(OB.c.title, OB.c.due_on, owed.element.label("owing"), submitted, accepted, returned, overdue,
               late_submitted)
        .select_from(A.join(OB, OB.c.id == A.c.obligation_id).join(U, U.c.id == A.c.unit_id))
        .where(A.c.campaign_id == campaign.id, A.c.active.is_(True), OB.c.active.is_(True), U.c.active.is_(True))
        .group_by(OB.c.id, OB.c.title, OB.c.due_on).order_by(OB.c.due_on, OB.c.id)
    ).all()
    obligations = [
        {"title": s.title, "due_date": fmt_date(s.due_on), "owing": s.owing, "submitted": int(s.submitted or 0),
         "accepted": int(s.accepted or 0), "returned": int(s.returned or 0),
         "not_submitted": s.owing - int(s.submitted or 0), "overdue": int(s.overdue or 0),
         "late_submitted": int(s.late_submitted or 0),
         "rate": fmt_share(int(s.submitted or 0), s.owing), "due": s.due_on <= today}
        for s in stats
    ]
    # The totals (and the subject) count what is due by today: a report due in December is not "missing" in June.
    due = [o for o in obligations if o["due"]]
    total_owing = sum(o["owing"] for o in due)
    total_submitted = sum(o["submitted"] for o in due)
    totals = {"owing": total_owing, "submitted": total_submitted, "overdue": sum(o["overdue"] for o in due),
              "rate": fmt_share(total_submitted, total_owing), "obligations": len(due),
              "not_yet_due": len(obligations) - len(due)}

    since = now - (timedelta(days=7) if frequency == "weekly" else timedelta(days=1))
    # The statuses the digest shows, named: then (campaign, status, window) is an index range per status; without
    # them SQLite's planner may skip-scan the status index and read every row of the window from the table.
    by_status = dict(session.execute(
        select(O.c.status, func.count()).where(O.c.campaign_id == campaign.id, O.c.status.in_(_DIGEST_STATUSES),
                                               O.c.scheduled_at >= since, O.c.scheduled_at < now).group_by(O.c.status)
    ).all())
    pending = session.execute(select(func.count()).select_from(O).where(
        O.c.campaign_id == campaign.id, O.c.status == OutboxStatus.PENDING.value)).scalar_one()
    delivery = {key: by_status.get(key, 0) for key in _DIGEST_STATUSES}
    delivery["pending"] = pending
    delivery["problems"] = delivery["failed"] + delivery["partial"] + delivery["unknown"]
    delivery["since"] = fmt_datetime(since, campaign.timezone)
    failures, failures_more = _failure_rows(session, campaign.id, since, now, 20)

    owing_units = select(A.c.unit_id).where(A.c.campaign_id == campaign.id, A.c.active.is_(True))
    units = session.execute(
        select(U.c.code, U.c.name, U.c.emails).where(U.c.id.in_(owing_units), U.c.active.is_(True)).order_by(U.c.code)
    ).all()
    bad = [{"code": u.code, "name": u.name, "problem": problem} for u in units if (problem := email_problems(u.emails))]
    period_label = (f"tuần {today.isocalendar()[1]}/{today.isocalendar()[0]}" if frequency == "weekly"
                    else f"ngày {fmt_date(today)}")
    return {**campaign.layout, "campaign_code": campaign.code, "period_label": period_label,
            "as_of": fmt_datetime(now, campaign.timezone), "obligations": obligations, "totals": totals,
            "delivery": delivery, "failures": failures, "failures_more": failures_more,
            "bad_email_units": bad[:DIGEST_LIST_LIMIT], "bad_email_more": max(0, len(bad) - DIGEST_LIST_LIMIT),
            "bad_email_count": len(bad)}


def failure_report_context(session: Session, campaign: CampaignInfo, *, day: date, now: datetime) -> dict[str, Any]:
    start = local_to_utc(datetime.combine(day, datetime.min.time()), campaign.timezone)
    failures, more = _failure_rows(session, campaign.id, start, start + timedelta(days=1), DIGEST_LIST_LIMIT)
    return {**campaign.layout, "date": fmt_date(day), "failures": failures, "failures_more": more,
            "count": len(failures) + more}


def display_address(name: str, address: str) -> str:
    """'"Unit name" <address>' with the name quoted (unit names hold commas, dots, parentheses)."""
    if not name:
        return address
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{address}>'


def list_id(campaign: CampaignInfo, mail_domain: str) -> str:
    """RFC 2919 List-Id of a campaign's mail, so that mail programs can filter and group it: ASCII phrase."""
    return _list_id(campaign.title, campaign.code, mail_domain)


@lru_cache(maxsize=256)  # the same for every mail of a campaign
def _list_id(title: str, code: str, mail_domain: str) -> str:
    plain = unicodedata.normalize("NFKD", title.replace("Đ", "D").replace("đ", "d"))
    phrase = "".join(ch for ch in plain if ch.isascii() and (ch.isalnum() or ch in " -")).strip()
    label = re.sub(r"[^a-z0-9-]+", "-", code.lower()).strip("-") or "thidua"
    return f'"{phrase[:80]}" <{label}.{mail_domain}>' if phrase else f"<{label}.{mail_domain}>"


def compose(*, key: str, recipient: str, display_name: str, template: str, context: dict[str, Any],
            reply_to: str | None, smtp: SmtpSettings, mail_domain: str, now: datetime, kind: str,
            renderer: Renderer, campaign: CampaignInfo | None = None, unsubscribe: str | None = None,
            reply_name: str = "") -> tuple[OutgoingMessage, str]:
    """Render and build one mail; returns the message and its Message-ID.

    With `campaign` the mail comes from its office (From and Reply-To named after the department and the
    federation), is dated in the campaign's time zone and carries List-Id; `unsubscribe` (a URL) adds the
    RFC 8058 one-click headers and the footer link.
    Raises ValueError (bad address) or TemplateRenderError: both permanent for this mail."""
    if unsubscribe:
        context = {**context, "unsubscribe_url": unsubscribe}
    mail = renderer.render(template, context)
    message_id = message_id_for(key, mail_domain)
    sender = display_address(campaign.office_name, smtp.sender) if campaign and campaign.office_name else smtp.from_header
    reply = reply_to if reply_to and is_plausible_email(reply_to) else None
    if reply:
        reply = display_address(reply_name or (campaign.reply_name if campaign else ""), reply)
    headers = {"Auto-Submitted": "auto-generated", "X-Thidua-Kind": kind}
    if campaign is not None:
        headers["List-Id"] = list_id(campaign, mail_domain)
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    raw = build_message(
        sender=sender, to=[display_address(display_name, recipient)], subject=mail.subject, text=mail.text,
        html=mail.html, message_id=message_id, reply_to=reply,
        date=utc_to_local(now, campaign.timezone if campaign else DEFAULT_TZ), extra_headers=headers,
    )
    return OutgoingMessage(key=key, sender=smtp.sender, recipients=[recipient], raw=raw), message_id


def render_preview(engine: Engine, settings: Settings, code: str, *, now: datetime, days: int = 1,
                   unit_code: str | None = None, limit: int = 1000, smtp: SmtpSettings | None = None
                   ) -> list[tuple[str, bytes]]:
    """The mail `preview` lists, built exactly as dispatch would build it: (ledger key, message bytes).
    Nothing is queued or sent."""
    smtp = smtp or smtp_settings(settings)
    renderer = get_renderer()
    result = preview(engine, code, now=now, days=days, unit_code=unit_code)
    ctx = result.campaign
    out: list[tuple[str, bytes]] = []
    with Session(engine) as session:
        campaign = campaign_infos(session, [ctx.id])[ctx.id]
        for batch in result.batches:
            today = utc_to_local(batch.send_at, ctx.timezone).date()
            for unit in batch.units:
                if len(out) >= limit:
                    return out
                if batch.kind == "reminder":
                    assert batch.occurrence is not None and batch.due_on is not None and unit.assignment_id is not None
                    context = reminder_context(campaign, unit_name=unit.name, obligation_title=batch.obligation_title,
                                               due_on=batch.due_on, today=today, assignment_id=unit.assignment_id,
                                               base_url=settings.base_url, returned=unit.returned)
                    template = "reminder_upcoming" if batch.occurrence.phase is Phase.BEFORE else "reminder_overdue"
                    keys = [reminder_key(unit.assignment_id, batch.occurrence.occurrence_id, r) for r in unit.recipients]
                elif batch.kind == "escalation":
                    children = _overdue_children(session, {(ctx.id, unit.unit_id)}, batch.send_at).get((ctx.id, unit.unit_id), [])
                    context = parent_digest_context(campaign, parent_name=unit.name, children=children, today=today,
                                                    base_url=settings.base_url)
                    template = "digest_parent"
                    keys = [escalation_key(ctx.id, unit.unit_id, today, r) for r in unit.recipients]
                else:
                    context = office_digest_context(session, campaign, now=batch.send_at, frequency=ctx.office_frequency)
                    template = "digest_office"
                    keys = [office_digest_key(ctx.id, office_digest_period(ctx.office_frequency, today))]
                for key, recipient in zip(keys, unit.recipients):
                    if not is_plausible_email(recipient):
                        continue  # dispatch records these as failed; the office digest lists them
                    message, _ = compose(key=key, recipient=recipient, display_name=unit.name, template=template,
                                         context=context, reply_to=ctx.owner_email, smtp=smtp,
                                         mail_domain=settings.mail_domain, now=batch.send_at, kind=batch.kind,
                                         renderer=renderer, campaign=campaign,
                                         unsubscribe=unsubscribe_url(settings, recipient, ctx.id,
                                                                     unit.assignment_id if batch.kind == "reminder" else None))
                    out.append((key, message.raw))
    return out


# ---------------------------------------------------------------------------------------------------
# Claims and crash recovery
# ---------------------------------------------------------------------------------------------------
def new_dispatcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Recovery:
    returned: int = 0  # claimed, never handed to SMTP → pending again
    unknown: int = 0  # may have reached the server → operators decide
    campaigns: set[int] = field(default_factory=set, compare=False)  # whose office hears about the unknown ones


def _process_gone(pid: int) -> bool:
    """True when no live process has this id on this machine (a zombie counts as gone: it sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


def _dead_owners_on_this_host(session: Session) -> list[str]:
    """Dispatchers of this machine (their id is host:pid:random) whose process is gone: their claims need not
    wait for the lease to run out. Owners on other machines are left to their lease."""
    prefix = f"{socket.gethostname()}:"
    owners = session.execute(
        select(O.c.lease_owner).where(O.c.status == OutboxStatus.CLAIMED.value).distinct()
    ).scalars().all()  # a handful: one per dispatcher
    owners = [owner for owner in owners if owner and owner.startswith(prefix)]
    dead = []
    for owner in owners:
        parts = owner[len(prefix):].split(":")
        if parts and parts[0].isdigit() and int(parts[0]) != os.getpid() and _process_gone(int(parts[0])):
            dead.append(owner)
    return dead


def recover_expired_claims(engine: Engine) -> Recovery:
    real_now = utcnow()
    with Session(engine) as session, session.begin():
        dead = _dead_owners_on_this_host(session)
        lapsed = O.c.lease_until < real_now
        expired = and_(O.c.status == OutboxStatus.CLAIMED.value, or_(lapsed, O.c.lease_owner.in_(dead)) if dead else lapsed)
        unknown = session.execute(
            update(O).where(expired, O.c.message_id.is_not(None))
            .values(status=OutboxStatus.UNKNOWN.value, lease_owner=None, lease_until=None,
                    last_error="tiến trình gửi dừng đột ngột sau khi thư có thể đã tới máy chủ SMTP; "
                               "không tự gửi lại (xem: thidua reminders resolve-unknown)")
            .returning(O.c.id, O.c.key, O.c.campaign_id)
        ).all()
        returned = session.execute(
            update(O).where(expired, O.c.message_id.is_(None))
            .values(status=OutboxStatus.PENDING.value, lease_owner=None, lease_until=None).returning(O.c.id)
        ).scalars().all()
        audits = [_audit_row("outbox.unknown", "outbox", r.id, r.campaign_id, {"key": r.key, "status": "unknown"},
                             note="giữ chỗ hết hạn sau khi thư đã được trao cho máy chủ SMTP") for r in unknown]
        if returned:
            audits.append(_audit_row("outbox.released", "outbox", None, None,
                                     {"count": len(returned), "ids": list(returned)}, note="giữ chỗ hết hạn, thư chưa gửi"))
        audit_many(session, audits)
    return Recovery(returned=len(returned), unknown=len(unknown),
                    campaigns={r.campaign_id for r in unknown if r.campaign_id is not None})


def claim_batch(engine: Engine, *, owner: str, now: datetime, limit: int, lease: timedelta = DEFAULT_LEASE,
                campaign_id: int | None = None) -> list[int]:
    """Lease up to `limit` due pending rows to `owner`; returns their ids in sending order."""
    conditions = [O.c.status == OutboxStatus.PENDING.value, O.c.scheduled_at <= now]
    if campaign_id is not None:
        conditions.append(O.c.campaign_id == campaign_id)
    # A CTE, evaluated once: as `id IN (subquery … FOR UPDATE SKIP LOCKED)` PostgreSQL may re-run the
    # subquery per row and claim more than `limit`.
    due = (select(O.c.id).where(*conditions).order_by(O.c.scheduled_at, O.c.id).limit(limit)
           .with_for_update(skip_locked=True).cte("due"))
    with Session(engine) as session, session.begin():
        ids = session.execute(
            update(O).where(O.c.id == due.c.id, O.c.status == OutboxStatus.PENDING.value)
            .values(status=OutboxStatus.CLAIMED.value, lease_owner=owner, lease_until=utcnow() + lease, message_id=None)
            .returning(O.c.id)
        ).scalars().all()
        if ids:
            audit_many(session, [_audit_row("outbox.claimed", "outbox", None, campaign_id,
                                            {"count": len(ids), "owner": owner, "ids": sorted(ids)})])
    return sorted(ids)


# ---------------------------------------------------------------------------------------------------
# Sending one claimed batch
# ---------------------------------------------------------------------------------------------------
@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    partial: int = 0
    failed: int = 0
    unknown: int = 0
    retried: int = 0
    skipped: int = 0
    answered: int = 0  # messages the SMTP server gave a final answer for (anything but "retry")
    deferred: int = 0  # campaign mail claimed outside working hours, back to pending until the next slot
    problem_campaigns: set[int] = field(default_factory=set)
    # What the SMTP server last said about a message it did not take (e.g. "451 4.3.0 thử lại sau"), or the
    # connection error when it said nothing: an operator must know which of the two stopped the pass.
    last_reply: str | None = None
    last_error: str | None = None

    def add(self, other: "BatchResult") -> None:
        for name in ("claimed", "sent", "partial", "failed", "unknown", "retried", "skipped", "answered", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problem_campaigns |= other.problem_campaigns
        self.last_reply = other.last_reply or self.last_reply
        self.last_error = other.last_error or self.last_error


@dataclass
class _Ready:
    id: int
    key: str
    kind: str
    campaign_id: int | None
    attempts: int
    message: OutgoingMessage
    message_id: str


def _retry_delay(attempts: int, per_round: int) -> timedelta:
    rounds = max(1, -(-attempts // max(1, per_round)))
    return min(RETRY_MAX, RETRY_BASE * 2 ** (rounds - 1))


class _Recorder:
    """Writes delivery results in small transactions while the transport keeps sending.

    Invariant (the crash guarantee): every message the transport may have taken has its row's
    `message_id` set. The transport takes message i only after i − connections messages completed, so
    marking `completed + RECORD_EVERY + connections` rows ahead at each write keeps the marks ahead of
    it (writes happen on the event loop thread, so nothing is taken during one)."""

    def __init__(self, engine: Engine, *, owner: str, now: datetime, lease: timedelta, ready: list[_Ready],
                 smtp: SmtpSettings, result: BatchResult, record_every: int = RECORD_EVERY) -> None:
        self.engine = engine
        self.owner = owner
        self.now = now
        self.lease = lease
        self.ready = ready
        self.by_key = {r.key: r for r in ready}
        self.smtp = smtp
        self.result = result
        self.record_every = record_every
        self.window = record_every + smtp.connections
        self.marked = 0
        self.completed = 0
        self.buffer: list[DeliveryResult] = []
        self.recorded: set[str] = set()
        self.last_write = _time.monotonic()

    def start(self) -> None:
        with Session(self.engine) as session, session.begin():
            self._mark(session, self.window)

    def on_result(self, delivery: DeliveryResult) -> None:
        self.buffer.append(delivery)
        self.completed += 1
        if len(self.buffer) >= self.record_every or _time.monotonic() - self.last_write > RECORD_MAX_DELAY_S:
            self.flush()

    def flush(self) -> None:
        with Session(self.engine) as session, session.begin():
            if self.buffer:
                self._record(session, self.buffer)
            self._mark(session, self.completed + self.window)
            # By id: a scan by owner and status walks every dead row version of the status index on PostgreSQL.
            session.execute(update(O).where(O.c.id.in_([r.id for r in self.ready]), O.c.lease_owner == self.owner,
                                            O.c.status == OutboxStatus.CLAIMED.value)
                            .values(lease_until=utcnow() + self.lease))
        self.buffer = []
        self.last_write = _time.monotonic()

    def release_unsent(self, reason: str) -> None:
        """After an aborted run: rows without a result were never sent (the transport says so)."""
        rows = [r for r in self.ready if r.key not in self.recorded]
        if not rows:
            return
        with Session(self.engine) as session, session.begin():
            session.execute(
                update(O).where(O.c.id.in_([r.id for r in rows]), O.c.lease_owner == self.owner)
                .values(status=OutboxStatus.PENDING.value, message_id=None, lease_owner=None, lease_until=None,
                        scheduled_at=self.now + RETRY_BASE, last_error=reason)
            )
            audit_many(session, [_audit_row("outbox.released", "outbox", None, None,
                                            {"count": len(rows), "ids": [r.id for r in rows]}, note=reason)])
        self.result.retried += len(rows)

    def _mark(self, session: Session, upto: int) -> None:
        upto = min(upto, len(self.ready))
        if upto <= self.marked:
            return
        session.execute(
            update(O).where(O.c.id == bindparam("b_id")).values(message_id=bindparam("b_mid")),
            [{"b_id": r.id, "b_mid": r.message_id} for r in self.ready[self.marked:upto]],
        )
        self.marked = upto

    def _record(self, session: Session, deliveries: list[DeliveryResult]) -> None:
        _record_deliveries(session, deliveries, by_key=self.by_key, recorded=self.recorded, owner=self.owner,
                           now=self.now, smtp=self.smtp, result=self.result)


def _record_deliveries(session: Session, deliveries: list[DeliveryResult], *, by_key: dict[str, _Ready],
                       recorded: set[str], owner: str, now: datetime, smtp: SmtpSettings, result: BatchResult) -> None:
    """Final statuses (and retries back to pending) of delivered messages, with their audit rows."""
    finals: list[dict[str, Any]] = []
    retries: list[dict[str, Any]] = []
    audits: dict[str, list[int]] = defaultdict(list)
    problem_audits: list[dict[str, Any]] = []
    for delivery in deliveries:
        row = by_key[delivery.key]
        recorded.add(delivery.key)
        attempts = row.attempts + delivery.attempts
        status, error = delivery.status, _describe_delivery(delivery)
        if status == "retry" and attempts >= GIVE_UP_AFTER_ATTEMPTS:
            status, error = "failed", f"đã thử {attempts} lần không gửi được; lỗi cuối: {error}"
        if delivery.status != "sent":
            result.last_reply = delivery.server_reply or result.last_reply
            result.last_error = delivery.error or result.last_error
        if status == "retry":
            retries.append({"b_id": row.id, "b_attempts": attempts, "b_error": error,
                            "b_at": now + _retry_delay(attempts, smtp.max_attempts)})
            result.retried += 1
            audits["retry"].append(row.id)
            continue
        result.answered += 1
        finals.append({"b_id": row.id, "b_status": status, "b_attempts": attempts, "b_error": error,
                       "b_sent": now if status in ("sent", "partial") else None})
        setattr(result, status, getattr(result, status) + 1)
        audits[status].append(row.id)
        if status in _PROBLEM_STATUSES:
            problem_audits.append(_audit_row(f"outbox.{status}", "outbox", row.id, row.campaign_id,
                                             {"key": row.key, "status": status, "error": error}))
            if row.campaign_id is not None and row.kind not in _REPORTING_KINDS:
                result.problem_campaigns.add(row.campaign_id)
    if finals:
        session.execute(
            update(O).where(O.c.id == bindparam("b_id"), O.c.lease_owner == owner)
            .values(status=bindparam("b_status"), attempts=bindparam("b_attempts"), last_error=bindparam("b_error"),
                    sent_at=bindparam("b_sent", type_=O.c.sent_at.type), lease_owner=None, lease_until=None),
            finals,
        )
    if retries:
        session.execute(
            update(O).where(O.c.id == bindparam("b_id"), O.c.lease_owner == owner)
            .values(status=OutboxStatus.PENDING.value, attempts=bindparam("b_attempts"),
                    last_error=bindparam("b_error"), scheduled_at=bindparam("b_at", type_=O.c.scheduled_at.type),
                    message_id=None, lease_owner=None, lease_until=None),
            retries,
        )
    audit_many(session, [_audit_row(f"outbox.{status}", "outbox", None, None, {"count": len(ids), "ids": ids})
                         for status, ids in audits.items() if status not in _PROBLEM_STATUSES] + problem_audits)


class _StreamRecorder:
    """The results of a pipelined pass (`dispatch_pass`), written off the event loop.

    Writes run in a thread, one at a time, each one transaction: the results buffered so far, the
    `message_id` marks ahead of the transport, and (every third of a lease) the lease of every claimed row
    not yet recorded. The crash guarantee of `_Recorder` holds across batches: the transport takes message i
    (in the order batches were added) only when i < `marked`, and `marked` moves only after the marks are
    committed; a write marks up to `completed + window`, so at most `window` (= RECORD_EVERY + connections)
    rows are ever marked without their result written."""

    def __init__(self, engine: Engine, *, owner: str, now: datetime, lease: timedelta, smtp: SmtpSettings,
                 result: BatchResult, record_every: int = RECORD_EVERY) -> None:
        self.engine, self.owner, self.now, self.lease, self.smtp, self.result = engine, owner, now, lease, smtp, result
        self.window = record_every + smtp.connections
        self.write_every = max(1, record_every // 2)  # write before the transport reaches the marks
        self.ready: list[_Ready] = []
        self.by_key: dict[str, _Ready] = {}
        self.recorded: set[str] = set()
        self.open_ids: set[int] = set()  # claimed by this pass, no final status yet (their leases are renewed)
        self.marked = 0
        self.completed = 0
        self.buffer: list[DeliveryResult] = []
        self.last_renewal = self.last_write = _time.monotonic()
        self.writer: asyncio.Task[None] | None = None
        self.again = False
        self.failure: BaseException | None = None
        self.stream: DeliveryStream | None = None
        # Per batch: [results to come, answered, to retry]. A batch that got nothing through stops the pass
        # (as `server_unreachable` does for `dispatch_loop`).
        self.batches: list[list[int]] = []
        self.batch_of: dict[str, int] = {}
        self.unreachable = False

    def add(self, ready: Sequence[_Ready]) -> None:
        self.ready.extend(ready)
        self.by_key.update((r.key, r) for r in ready)
        self.batch_of.update((r.key, len(self.batches)) for r in ready)
        self.batches.append([len(ready), 0, 0])
        self.request_write()

    def may_take(self, index: int) -> bool:
        if index < self.marked:
            return True
        self.request_write()
        return False

    def on_result(self, delivery: DeliveryResult) -> None:
        self.buffer.append(delivery)
        self.completed += 1
        stats = self.batches[self.batch_of[delivery.key]]
        stats[0] -= 1
        stats[2 if delivery.status == "retry" else 1] += 1
        if stats[0] == 0 and stats[1] == 0 and stats[2] > 0:
            self.unreachable = True
        if len(self.buffer) >= self.write_every or _time.monotonic() - self.last_write > RECORD_MAX_DELAY_S:
            self.request_write()

    def request_write(self) -> None:
        if self.failure is not None:
            return
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._writes())
        else:
            self.again = True

    async def _writes(self) -> None:
        while True:
            self.again = False
            buffer, self.buffer = self.buffer, []
            upto = min(len(self.ready), self.completed + self.window)
            marks = self.ready[self.marked:upto] if upto > self.marked else []
            renew = _time.monotonic() - self.last_renewal > self.lease.total_seconds() / 3
            if buffer or marks or renew:
                try:
                    await asyncio.to_thread(self._write, buffer, marks, sorted(self.open_ids) if renew else [])
                except Exception as exc:  # the database failed: stop sending; the leases bring the rows back
                    self.failure = exc
                    if self.stream is not None:
                        self.stream.fail(exc)
                    return
                self.marked = max(self.marked, upto)
                self.last_write = _time.monotonic()
                self.open_ids.difference_update(self.by_key[d.key].id for d in buffer)
                if renew:
                    self.last_renewal = _time.monotonic()
                if self.stream is not None:
                    self.stream.wake()
            if not self.again:
                return

    def _write(self, buffer: list[DeliveryResult], marks: list[_Ready], renew: list[int]) -> None:
        with Session(self.engine) as session, session.begin():
            if buffer:
                _record_deliveries(session, buffer, by_key=self.by_key, recorded=self.recorded, owner=self.owner,
                                   now=self.now, smtp=self.smtp, result=self.result)
            if marks:
                session.execute(update(O).where(O.c.id == bindparam("b_id")).values(message_id=bindparam("b_mid")),
                                [{"b_id": r.id, "b_mid": r.message_id} for r in marks])
            if renew:
                session.execute(update(O).where(O.c.id.in_(renew), O.c.lease_owner == self.owner,
                                                O.c.status == OutboxStatus.CLAIMED.value)
                                .values(lease_until=utcnow() + self.lease))

    async def settle(self, stream: DeliveryStream) -> None:
        """Every message added so far has its result written (or no connection is left to send it)."""
        while self.failure is None:
            if self.writer is not None and not self.writer.done():
                await asyncio.shield(self.writer)
                continue
            if self.buffer:
                self.request_write()
                continue
            if self.completed >= len(self.ready) or stream.exhausted:
                break
            await asyncio.sleep(0.005)
        if self.failure is not None:
            raise self.failure

    def release_unsent(self, reason: str) -> int:
        """After an aborted run: claimed rows without a result were never sent (the transport says so)."""
        ids = sorted(self.open_ids)
        if ids:
            with Session(self.engine) as session, session.begin():
                session.execute(
                    update(O).where(O.c.id.in_(ids), O.c.lease_owner == self.owner,
                                    O.c.status == OutboxStatus.CLAIMED.value)
                    .values(status=OutboxStatus.PENDING.value, message_id=None, lease_owner=None, lease_until=None,
                            scheduled_at=self.now + RETRY_BASE, last_error=reason))
                audit_many(session, [_audit_row("outbox.released", "outbox", None, None,
                                                {"count": len(ids), "ids": ids}, note=reason)])
            self.open_ids.clear()
        return len(ids)


def _describe_delivery(delivery: DeliveryResult) -> str | None:
    if delivery.status == "sent":
        return None
    if delivery.status == "partial":
        refused = "; ".join(f"{addr}: {code} {text}" for addr, (code, text) in delivery.refused.items())
        return f"một số người nhận bị từ chối: {refused}"
    prefix = {"failed": "máy chủ thư từ chối", "retry": "lỗi tạm thời, sẽ thử lại",
              "unknown": "mất kết nối sau khi đã gửi nội dung thư; không tự gửi lại"}[delivery.status]
    return f"{prefix}: {delivery.error or delivery.server_reply or ''}".strip()


@dataclass
class _Loaded:
    """A claimed row with what its mail needs, or the reason it is not sent."""

    row: Any
    skip: str | None = None
    fail: str | None = None
    defer_until: datetime | None = None  # outside the campaign's working hours: back to pending until then
    template_context: dict[str, Any] | None = None
    display_name: str = ""
    reply_to: str | None = None
    campaign: CampaignInfo | None = None
    reply_name: str = ""


def _prepare(session: Session, ids: Sequence[int], *, now: datetime, base_url: str,
             link_for: Callable[[str, int, int], str] | None = None,
             fallback_reply_to: str | None = None) -> list[_Loaded]:
    parent = U.alias("parent")
    rows = session.execute(
        select(O.c.id, O.c.key, O.c.kind, O.c.template, O.c.recipient, O.c.context, O.c.unit_id, O.c.assignment_id,
               O.c.campaign_id, O.c.attempts, U.c.name.label("unit_name"), U.c.active.label("unit_active"),
               A.c.status.label("a_status"), A.c.active.label("a_active"), A.c.due_on, A.c.due_at,
               OB.c.title.label("ob_title"), OB.c.active.label("ob_active"), parent.c.name.label("parent_name"))
        .select_from(O.outerjoin(U, U.c.id == O.c.unit_id).outerjoin(A, A.c.id == O.c.assignment_id)
                     .outerjoin(OB, OB.c.id == A.c.obligation_id).outerjoin(parent, parent.c.id == U.c.parent_id))
        .where(O.c.id.in_(ids)).order_by(O.c.id)
    ).all()
    campaigns = campaign_infos(session, [r.campaign_id for r in rows if r.campaign_id is not None])
    children = _overdue_children(session, {(r.campaign_id, r.unit_id) for r in rows if r.kind == "escalation"}, now)
    office_cache: dict[int, dict[str, Any]] = {}
    stopped = opted_out(session, [(r.recipient, r.campaign_id, r.assignment_id, r.kind) for r in rows])
    office = sole_office(session) if any(r.campaign_id is None for r in rows) else None
    calendars = _calendars(session, {r.campaign_id for r in rows if r.kind in WORKING_HOURS_KINDS and r.campaign_id})
    loaded = []
    for row in rows:
        item = _Loaded(row, display_name=row.unit_name or "")
        campaign = campaigns.get(row.campaign_id) if row.campaign_id is not None else None
        item.campaign = campaign
        item.reply_to = campaign.owner_email if campaign else (fallback_reply_to or (office.owner_email if office else None))
        if campaign is None and office is not None and not fallback_reply_to:
            item.reply_name = office.reply_name
        today = utc_to_local(now, campaign.timezone if campaign else "Asia/Ho_Chi_Minh").date()
        calendar = calendars.get(row.campaign_id) if row.kind in WORKING_HOURS_KINDS else None
        if calendar is not None and campaign is not None:
            local_now = utc_to_local(now, campaign.timezone).replace(tzinfo=None)
            if not calendar.is_working_moment(local_now):
                item.defer_until = local_to_utc(calendar.next_working_slot(local_now), campaign.timezone)
                loaded.append(item)
                continue
        if row.kind in ("reminder", "escalation", "office_digest", "failure_report") and (campaign is None or not campaign.active):
            item.skip = "chiến dịch không còn hoạt động"
        elif (row.recipient.strip().lower(), row.campaign_id, row.assignment_id) in stopped:
            item.skip = "người nhận đã bấm ngừng nhận loại thư này"
        elif row.kind == "reminder":
            item.skip = _reminder_skip_reason(row, now)
            if item.skip is None:
                assert campaign is not None
                escalated_to = row.parent_name if (row.context or {}).get("escalate") and row.parent_name else ""
                item.template_context = reminder_context(
                    campaign, unit_name=row.unit_name, obligation_title=row.ob_title, due_on=row.due_on, today=today,
                    assignment_id=row.assignment_id, base_url=base_url,
                    returned=row.a_status == AssignmentStatus.RETURNED.value, escalated_to=escalated_to,
                    link=link_for(row.recipient, row.unit_id, row.assignment_id) if link_for else None)
        elif row.kind == "escalation":
            assert campaign is not None
            overdue = children.get((row.campaign_id, row.unit_id), [])
            if not row.unit_active:
                item.skip = "đơn vị đã ngừng hoạt động"
            elif not overdue:
                item.skip = "không còn đơn vị trực thuộc quá hạn"
            else:
                item.template_context = parent_digest_context(campaign, parent_name=row.unit_name, children=overdue,
                                                              today=today, base_url=base_url)
        elif row.kind == "office_digest":
            assert campaign is not None
            item.display_name = campaign.owner_department
            if campaign.id not in office_cache:
                office_cache[campaign.id] = office_digest_context(
                    session, campaign, now=now, frequency=(row.context or {}).get("frequency", "daily"))
            item.template_context = office_cache[campaign.id]
        elif row.kind == "failure_report":
            assert campaign is not None
            item.display_name = campaign.owner_department
            day = date.fromisoformat((row.context or {}).get("day", today.isoformat()))
            item.template_context = failure_report_context(session, campaign, day=day, now=now)
            if item.template_context["count"] == 0:
                item.skip = "không còn thư lỗi để báo"
        elif row.kind == "report_returned":
            if row.a_status != AssignmentStatus.RETURNED.value:
                item.skip = "đơn vị đã gửi lại báo cáo"
            else:
                link = (link_for(row.recipient, row.unit_id, row.assignment_id) if link_for
                        else obligation_link(base_url, row.assignment_id))
                item.template_context = {**(campaign.layout if campaign else {}), **(row.context or {}), "link": link}
        else:  # mail queued by other parts of the system through notifications.outbox.enqueue
            item.template_context = {**(campaign.layout if campaign else {}), **(row.context or {})}
        if item.skip is None and not is_plausible_email(row.recipient):
            item.fail = f"địa chỉ e-mail không hợp lệ: '{row.recipient}'"
        loaded.append(item)
    return loaded


# Campaign mail bound to the working calendar (never sent on a day off or outside working hours); sign-in
# links and failure reports to the office go at any time.
WORKING_HOURS_KINDS = frozenset({"reminder", "escalation", "office_digest", "report_returned", "nomination"})


def _calendars(session: Session, campaign_ids: set[int]) -> dict[int, WorkingCalendar]:
    if not campaign_ids:
        return {}
    return {row.id: campaign_calendar(row.spec or {}, row.source_file, row.starts_on, row.ends_on)
            for row in session.execute(select(C).where(C.c.id.in_(campaign_ids))).all()}


def _reminder_skip_reason(row: Any, now: datetime) -> str | None:
    if row.a_status in SUBMITTED_STATUSES:
        return "đơn vị đã gửi báo cáo"
    if not row.a_active or not row.ob_active:
        return "nghĩa vụ không còn hiệu lực với đơn vị"
    if not row.unit_active:
        return "đơn vị đã ngừng hoạt động"
    phase = (row.context or {}).get("phase")
    if phase == Phase.BEFORE.value and now > row.due_at:
        return "đã qua hạn nộp; thư nhắc trước hạn không còn đúng"
    if phase == Phase.OVERDUE.value and now <= row.due_at:
        return "hạn nộp đã được lùi; đơn vị chưa quá hạn"
    return None


@dataclass
class _Sorted:
    """A claimed batch after preparing: mail ready to go, and the rows that go nowhere (with why)."""

    ready: list[_Ready] = field(default_factory=list)
    skipped: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    failed: list[tuple[Any, str]] = field(default_factory=list)
    deferred: list[tuple[int, datetime]] = field(default_factory=list)


def _load_claimed(engine: Engine, ids: Sequence[int], *, now: datetime, settings: Settings) -> list[_Loaded]:
    with Session(engine) as session:
        return _prepare(session, ids, now=now, base_url=settings.base_url,
                        link_for=lambda email, unit_id, assignment_id: signed_obligation_link(
                            settings, email, unit_id, assignment_id, now),
                        fallback_reply_to=settings.smtp_reply_to)


def _sort_one(item: _Loaded, out: _Sorted, *, now: datetime, settings: Settings, smtp: SmtpSettings,
              renderer: Renderer) -> None:
    row = item.row
    if item.defer_until is not None:
        out.deferred.append((row.id, item.defer_until))
        return
    if item.skip is not None:
        out.skipped[item.skip].append(row.id)
        return
    if item.fail is not None:
        out.failed.append((row, item.fail))
        return
    assert item.template_context is not None
    try:
        unsubscribe = (unsubscribe_url(settings, row.recipient, row.campaign_id,
                                       row.assignment_id if row.kind == "reminder" else None)
                       if row.kind in NON_MANDATORY_KINDS and row.campaign_id is not None else None)
        message, message_id = compose(
            key=row.key, recipient=row.recipient, display_name=item.display_name, template=row.template,
            context=item.template_context, reply_to=item.reply_to, smtp=smtp, mail_domain=settings.mail_domain,
            now=now, kind=row.kind, renderer=renderer, campaign=item.campaign, unsubscribe=unsubscribe,
            reply_name=item.reply_name)
    except (ValueError, TemplateRenderError) as exc:
        out.failed.append((row, f"không tạo được thư: {exc}"))
        return
    out.ready.append(_Ready(row.id, row.key, row.kind, row.campaign_id, row.attempts, message, message_id))


def _write_unsendable(engine: Engine, owner: str, now: datetime, sorted_: _Sorted, result: BatchResult) -> None:
    _record_unsendable(engine, owner, now, sorted_.skipped, sorted_.failed, result)
    _defer(engine, owner, sorted_.deferred, result)


async def send_batch(engine: Engine, ids: Sequence[int], *, owner: str, now: datetime, settings: Settings,
                     smtp: SmtpSettings, lease: timedelta = DEFAULT_LEASE, renderer: Renderer | None = None,
                     record_every: int = RECORD_EVERY) -> BatchResult:
    """Send the claimed rows `ids`; every row ends sent/partial/failed/unknown/skipped or back in pending."""
    renderer = renderer or get_renderer()
    result = BatchResult(claimed=len(ids))
    sorted_ = _Sorted()
    for item in _load_claimed(engine, ids, now=now, settings=settings):
        _sort_one(item, sorted_, now=now, settings=settings, smtp=smtp, renderer=renderer)
    _write_unsendable(engine, owner, now, sorted_, result)
    ready = sorted_.ready
    if not ready:
        return result
    recorder = _Recorder(engine, owner=owner, now=now, lease=lease, ready=ready, smtp=smtp, result=result,
                         record_every=record_every)
    recorder.start()
    try:
        await deliver([r.message for r in ready], smtp, on_result=recorder.on_result)
    except DeliveryAborted as exc:
        recorder.flush()
        recorder.release_unsent(f"máy chủ SMTP từ chối phiên gửi: {exc.message}")
        raise _refused(smtp, exc) from exc
    recorder.flush()
    return result


def _refused(smtp: SmtpSettings, exc: DeliveryAborted) -> SmtpRefused:
    return SmtpRefused(f"máy chủ thư {smtp.host}:{smtp.port or ''} từ chối phiên gửi ({exc.message}); "
                       "kiểm tra tên đăng nhập, mật khẩu, TLS trong cấu hình THIDUA_SMTP_*")


def _defer(engine: Engine, owner: str, deferred: list[tuple[int, datetime]], result: BatchResult) -> None:
    """Claimed outside working hours: back to pending, due at the next working slot (not an attempt)."""
    if not deferred:
        return
    with Session(engine) as session, session.begin():
        session.execute(update(O).where(O.c.id == bindparam("b_id"), O.c.lease_owner == owner)
                        .values(status=OutboxStatus.PENDING.value, scheduled_at=bindparam("b_at", type_=O.c.scheduled_at.type),
                                message_id=None, lease_owner=None, lease_until=None),
                        [{"b_id": row_id, "b_at": at} for row_id, at in deferred])
        audit_many(session, [_audit_row("outbox.deferred", "outbox", None, None,
                                        {"count": len(deferred), "ids": [i for i, _ in deferred]},
                                        note="ngoài giờ làm việc của chiến dịch")])
    result.deferred += len(deferred)


def _record_unsendable(engine: Engine, owner: str, now: datetime, skipped: dict[str, list[int]],
                       failed: list[tuple[Any, str]], result: BatchResult) -> None:
    if not skipped and not failed:
        return
    with Session(engine) as session, session.begin():
        audits = []
        for reason, row_ids in skipped.items():
            session.execute(update(O).where(O.c.id.in_(row_ids), O.c.lease_owner == owner)
                            .values(status=OutboxStatus.SKIPPED.value, last_error=reason, lease_owner=None, lease_until=None))
            audits.append(_audit_row("outbox.skipped", "outbox", None, None, {"count": len(row_ids), "ids": row_ids}, note=reason))
            result.skipped += len(row_ids)
        for row, reason in failed:
            session.execute(update(O).where(O.c.id == row.id, O.c.lease_owner == owner)
                            .values(status=OutboxStatus.FAILED.value, last_error=reason, lease_owner=None, lease_until=None))
            audits.append(_audit_row("outbox.failed", "outbox", row.id, row.campaign_id, {"key": row.key}, note=reason))
            result.failed += 1
            if row.campaign_id is not None and row.kind not in _REPORTING_KINDS:
                result.problem_campaigns.add(row.campaign_id)
        audit_many(session, audits)


# ---------------------------------------------------------------------------------------------------
# A whole pass
# ---------------------------------------------------------------------------------------------------
@dataclass
class DispatchSummary:
    now: datetime
    recovery: Recovery
    plan: PlanResult
    batches: int = 0
    totals: BatchResult = field(default_factory=BatchResult)
    stopped_early: bool = False  # the SMTP server was unreachable; the rest waits for the next pass


def smtp_settings(settings: Settings) -> SmtpSettings:
    try:
        return SmtpSettings(
            host=settings.smtp_host, port=settings.smtp_port, security=settings.smtp_security,  # type: ignore[arg-type]
            username=settings.smtp_username, password=settings.smtp_password, sender=settings.smtp_sender,
            sender_name=settings.smtp_sender_name, connections=settings.smtp_connections,
        )
    except ValueError as exc:
        raise SmtpRefused(f"cấu hình SMTP không hợp lệ (THIDUA_SMTP_*): {exc}") from exc


def campaign_id_for(engine: Engine, code: str | None) -> int | None:
    if code is None:
        return None
    with Session(engine) as session:
        campaign_id = session.execute(select(C.c.id).where(C.c.code == code)).scalar_one_or_none()
    if campaign_id is None:
        raise CampaignNotFound(f"không có chiến dịch mã '{code}'")
    return campaign_id


async def dispatch_batch(engine: Engine, settings: Settings, *, owner: str, now: datetime, smtp: SmtpSettings,
                         campaign_id: int | None = None, batch_size: int | None = None,
                         lease: timedelta = DEFAULT_LEASE) -> BatchResult | None:
    """Claim and send one batch; None when nothing is due."""
    ids = claim_batch(engine, owner=owner, now=now, limit=batch_size or settings.dispatch_batch_size, lease=lease,
                      campaign_id=campaign_id)
    if not ids:
        return None
    return await send_batch(engine, ids, owner=owner, now=now, settings=settings, smtp=smtp, lease=lease)


async def dispatch_pass(engine: Engine, settings: Settings, *, owner: str, now: datetime, smtp: SmtpSettings,
                        campaign_id: int | None = None, batch_size: int | None = None,
                        lease: timedelta = DEFAULT_LEASE, max_batches: int | None = None,
                        renderer: Renderer | None = None, record_every: int = RECORD_EVERY,
                        plan_reports: Callable[[set[int]], int] | None = None) -> tuple[int, BatchResult, bool]:
    """Send batches until nothing is due (then once more for the failure reports of this pass), pipelined:
    while the connections send batch N, batch N+1 is claimed, checked and composed, and every database write
    runs in a thread, so the connections do not wait for the database. At most one batch waits ahead of the
    transport. Same ledger as `dispatch_batch` (claims under a lease, marks ahead of the transport, results in
    small transactions). Stops early when every connection gave up (the server is unreachable).
    Returns (batches, totals, stopped_early)."""
    renderer = renderer or get_renderer()
    size = batch_size or settings.dispatch_batch_size
    totals = BatchResult()
    recorder = _StreamRecorder(engine, owner=owner, now=now, lease=lease, smtp=smtp, result=totals,
                               record_every=record_every)
    stream = DeliveryStream(smtp, on_result=recorder.on_result, may_take=recorder.may_take)
    recorder.stream = stream
    await stream.start()

    async def produce() -> int:
        batches, reports_planned = 0, False
        while max_batches is None or batches < max_batches:
            while stream.added - stream.taken >= size and not stream.exhausted:
                await asyncio.sleep(0.002)  # one batch ahead is enough
            if stream.exhausted or recorder.unreachable:
                break
            ids = await asyncio.to_thread(claim_batch, engine, owner=owner, now=now, limit=size, lease=lease,
                                          campaign_id=campaign_id)
            if not ids:
                if reports_planned or plan_reports is None:
                    break
                await recorder.settle(stream)  # every outcome of this pass is known before it is reported
                if stream.exhausted or recorder.unreachable or not totals.problem_campaigns:
                    break
                reports_planned = True
                if not await asyncio.to_thread(plan_reports, set(totals.problem_campaigns)):
                    break
                continue
            batches += 1
            totals.claimed += len(ids)
            recorder.open_ids.update(ids)
            loaded = await asyncio.to_thread(_load_claimed, engine, ids, now=now, settings=settings)
            sorted_ = _Sorted()
            for start in range(0, len(loaded), 25):  # composed on the loop in slices: the connections keep going
                for item in loaded[start:start + 25]:
                    _sort_one(item, sorted_, now=now, settings=settings, smtp=smtp, renderer=renderer)
                await asyncio.sleep(0)
            gone = {row_id for row_ids in sorted_.skipped.values() for row_id in row_ids}
            gone |= {row.id for row, _ in sorted_.failed} | {row_id for row_id, _ in sorted_.deferred}
            if gone:
                await asyncio.to_thread(_write_unsendable, engine, owner, now, sorted_, totals)
                recorder.open_ids.difference_update(gone)
            if sorted_.ready:
                recorder.add(sorted_.ready)
                stream.add([r.message for r in sorted_.ready])
        return batches

    try:
        batches = await produce()
        gave_up = stream.exhausted
        await stream.close()
    except DeliveryAborted as exc:
        await recorder.settle(stream)
        totals.retried += await asyncio.to_thread(recorder.release_unsent, f"máy chủ SMTP từ chối phiên gửi: {exc.message}")
        raise _refused(smtp, exc) from exc
    except BaseException as exc:
        stream.fail(exc)
        with suppress(BaseException):
            await stream.close()
        raise
    await recorder.settle(stream)
    return batches, totals, (gave_up or recorder.unreachable) and totals.retried > 0


def stop_reason(totals: BatchResult, settings: Settings) -> str:
    """Why a pass stopped early, in the words an operator needs: what the server answered, if it answered."""
    server = f"{settings.smtp_host}:{settings.smtp_port}"
    if totals.last_reply:
        return (f"Máy chủ thư {server} trả lời \"{totals.last_reply}\" và không nhận thư nào (lỗi tạm thời phía máy "
                f"chủ thư); phần còn lại sẽ gửi ở lượt sau.")
    detail = f" ({totals.last_error})" if totals.last_error else ""
    return f"Không kết nối được máy chủ thư {server}{detail}; phần còn lại sẽ gửi ở lượt sau."


def server_unreachable(batch: BatchResult) -> bool:
    """Nothing got a final answer and something must be retried: stop the pass, try next tick."""
    return batch.answered == 0 and batch.retried > 0


async def dispatch_loop(send_one: Callable[[], Awaitable[BatchResult | None]],
                        plan_reports: Callable[[set[int]], int], *, max_batches: int | None = None
                        ) -> tuple[int, BatchResult, bool]:
    """Send batches until nothing is due, then once more for the failure reports of this pass.
    Stops early when the SMTP server is unreachable. Returns (batches, totals, stopped_early)."""
    batches, totals = 0, BatchResult()
    reports_planned = False
    while max_batches is None or batches < max_batches:
        batch = await send_one()
        if batch is None:
            if reports_planned or not totals.problem_campaigns:
                break
            reports_planned = True
            if not plan_reports(totals.problem_campaigns):
                break
            continue
        batches += 1
        totals.add(batch)
        if server_unreachable(batch):
            return batches, totals, True
    return batches, totals, False


async def run_dispatch(engine: Engine, settings: Settings, *, now: datetime | None = None,
                       campaign_code: str | None = None, smtp: SmtpSettings | None = None, owner: str | None = None,
                       batch_size: int | None = None, lease: timedelta = DEFAULT_LEASE,
                       max_batches: int | None = None) -> DispatchSummary:
    """One full pass: recover, plan, then send batches until nothing is due (or SMTP is unreachable)."""
    moment = now or utcnow()
    smtp_ = smtp or smtp_settings(settings)
    owner_ = owner or new_dispatcher_id()
    campaign_id = campaign_id_for(engine, campaign_code)
    recovery = recover_expired_claims(engine)
    plan_failure_reports(engine, recovery.campaigns, moment)
    summary = DispatchSummary(now=moment, recovery=recovery, plan=plan_due(engine, now=moment, campaign_code=campaign_code))

    summary.batches, summary.totals, summary.stopped_early = await dispatch_pass(
        engine, settings, owner=owner_, now=moment, smtp=smtp_, campaign_id=campaign_id, batch_size=batch_size,
        lease=lease, max_batches=max_batches, plan_reports=lambda campaigns: plan_failure_reports(engine, campaigns, moment))
    return summary


# ---------------------------------------------------------------------------------------------------
# Operators: status and unknown outcomes
# ---------------------------------------------------------------------------------------------------
@dataclass
class StatusReport:
    counts: dict[str, int]
    by_kind: dict[tuple[str, str], int]
    latest_failures: list[Any]
    unknown: list[Any]
    next_due: datetime | None


def status_report(engine: Engine, campaign_code: str | None = None, *, limit: int = 10) -> StatusReport:
    campaign_id = campaign_id_for(engine, campaign_code)
    scope = [O.c.campaign_id == campaign_id] if campaign_id is not None else []
    with Session(engine) as session:
        by_kind = {(k, s): n for k, s, n in session.execute(
            select(O.c.kind, O.c.status, func.count()).where(*scope).group_by(O.c.kind, O.c.status)).all()}
        counts: Counter[str] = Counter()
        for (_, status), n in by_kind.items():
            counts[status] += n
        columns = (O.c.id, O.c.key, O.c.kind, O.c.status, O.c.recipient, O.c.last_error, O.c.scheduled_at,
                   O.c.attempts, U.c.code.label("unit_code"))
        source = O.outerjoin(U, U.c.id == O.c.unit_id)
        failures = session.execute(select(*columns).select_from(source).where(
            *scope, O.c.status.in_((OutboxStatus.FAILED.value, OutboxStatus.PARTIAL.value))).order_by(O.c.id.desc()).limit(limit)).all()
        unknown = session.execute(select(*columns).select_from(source).where(
            *scope, O.c.status == OutboxStatus.UNKNOWN.value).order_by(O.c.id).limit(200)).all()
        next_due = session.execute(select(func.min(O.c.scheduled_at)).where(
            *scope, O.c.status == OutboxStatus.PENDING.value)).scalar_one()
    return StatusReport(dict(counts), by_kind, list(failures), list(unknown), next_due)


def resolve_unknown(engine: Engine, *, action: str, actor: str, keys: Sequence[str] | None = None,
                    now: datetime | None = None) -> int:
    """An operator's decision on `unknown` rows (all of them when `keys` is None): 'resend' queues them
    again (the receiver may get a second copy, recognisable by the same Message-ID); 'mark-sent' records
    them as delivered."""
    if action not in ("resend", "mark-sent"):
        raise ValueError(action)
    now = now or utcnow()
    condition = [O.c.status == OutboxStatus.UNKNOWN.value]
    if keys is not None:
        condition.append(O.c.key.in_(list(keys)))
    values: dict[str, Any] = (
        {"status": OutboxStatus.PENDING.value, "message_id": None,  # due again from its original time
         "last_error": f"người vận hành {actor} cho gửi lại"}
        if action == "resend" else
        {"status": OutboxStatus.SENT.value, "sent_at": now, "last_error": f"người vận hành {actor} xác nhận đã gửi"}
    )
    with Session(engine) as session, session.begin():
        rows = session.execute(update(O).where(*condition).values(**values)
                               .returning(O.c.id, O.c.key, O.c.campaign_id)).all()
        audit_many(session, [_audit_row(f"outbox.resolve_unknown.{action}", "outbox", r.id, r.campaign_id,
                                        {"key": r.key, "status": values["status"]}, actor=actor) for r in rows])
    return len(rows)
