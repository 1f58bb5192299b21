"""reminders: Planning (set-based); Preview: what will go out in the next days (read-only)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, Iterable, Sequence

from sqlalchemy import String, bindparam, cast, exists, func, literal, not_, select, true, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit_many
from thidua.models.clock import local_to_utc, utc_to_local
from thidua.models.outbox import OutboxStatus
from thidua.models.reminders import (
    LAST_OCCURRENCE_GRACE,
    MAX_QUEUED_EMAIL_LENGTH,
    Occurrence,
    Phase,
    current_occurrence,
    escalation_key,
    expand_rungs,
    failure_report_key,
    normalize_email,
    occurrences_between,
    office_digest_due,
    office_digest_key,
    office_digest_period,
)
from thidua.models.status import AssignmentStatus
from thidua.models.workcalendar import NoWorkingDayError, parse_hhmm
from thidua.services.campaign_context import (
    CampaignContext,
)
from thidua.services.campaigns import subtree_range
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)

from .context import (
    _PLANNED_COLUMNS,
    ObligationGroup,
    _active_campaigns,
    _const,
    _count_inserted,
    _dialect,
    _email_elements_for,
    _insert_ignoring_duplicates,
    _insert_ignoring_duplicates_for,
    _owing,
    _owing_now,
    _owing_params,
    _param,
    campaign_context,
    obligation_groups,
)
from .errors import SYSTEM_ACTOR, A, C, O, U, UnitNotFound


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


def _reminder_window(ctx: CampaignContext, now: datetime) -> tuple[date, date] | None:
    """The due dates of the groups that can have a current occurrence at `now` (a superset, by a day or two),
    from the campaign's ladders and working calendar; None when there is no bound.

    An occurrence of offset o falls on previous_working_day(due + o) (before the deadline) or on
    next_working_day(due + o) (after it), sent at the ladder's time or the next working slot. So the first one
    is on or after previous_working_day(due + min o), which must be today or earlier; and the last one is on or
    before f(due + max o), f(x) = next_working_day(next_working_day(x) + 1), and stays current for
    LAST_OCCURRENCE_GRACE. Both functions never decrease, hence a range of due dates."""
    offsets = [offset for ladder in ctx.ladders.values() for _, _, offset in expand_rungs(ladder)]
    if not offsets:
        return None
    calendar, day = ctx.calendar, timedelta(days=1)
    today = ctx.today(now)
    try:
        # previous_working_day(x) <= today exactly when x is before the first working day after today.
        last_due = calendar.next_working_day(today + day) - day - timedelta(days=min(offsets))
        floor = today - LAST_OCCURRENCE_GRACE - day  # one day more: a grace running past local midnight

        def last_day(x: date) -> date:
            return calendar.next_working_day(calendar.next_working_day(x) + day)

        x = floor - day  # last_day(x) > x: the smallest x with last_day(x) >= floor is at most this
        while last_day(x - day) >= floor:
            x -= day
    except NoWorkingDayError:
        return None
    first_due = x - timedelta(days=max(offsets))
    return first_due - 2 * day, last_due + 2 * day


def _plan_campaign(session: Session, ctx: CampaignContext, now: datetime, result: PlanResult) -> None:
    audits: list[dict[str, Any]] = []
    # Reminders are only queued at a working moment: one that became current on a day off (e.g. a report
    # returned on a Saturday) waits for the next working slot instead of going out at once.
    working = ctx.calendar.is_working_moment(utc_to_local(now, ctx.timezone).replace(tzinfo=None))
    window = _reminder_window(ctx, now)
    groups = obligation_groups(session, ctx, due_between=window) if working else []
    for group in groups:
        occurrence = current_occurrence(group.occurrences(ctx), now, group.due_at(ctx))
        if occurrence is None:
            continue
        count = _plan_reminders(session, ctx, group, occurrence, now)
        result.reminders += count
        if count:
            audits.append(
                _audit_row(
                    "reminders.planned",
                    "obligation",
                    group.obligation_id,
                    ctx.id,
                    {"rung": occurrence.occurrence_id, "due_on": group.due_on, "count": count},
                )
            )
        if occurrence.escalate and occurrence.phase is Phase.OVERDUE:
            escalated = _plan_escalations(session, ctx, group, occurrence, now)
            result.escalations += escalated
            if escalated:
                audits.append(
                    _audit_row(
                        "escalations.planned",
                        "obligation",
                        group.obligation_id,
                        ctx.id,
                        {"rung": occurrence.occurrence_id, "count": escalated},
                    )
                )
    if _plan_office_digest(session, ctx, now):
        result.office_digests += 1
        audits.append(_audit_row("office_digest.planned", "campaign", ctx.id, ctx.id, {"date": ctx.today(now)}))
    audit_many(session, audits)


def _plan_reminders(
    session: Session, ctx: CampaignContext, group: ObligationGroup, occurrence: Occurrence, now: datetime
) -> int:
    occurrence_id = occurrence.occurrence_id
    params = {
        **_owing_params(group),
        "p_key_rung": f":{occurrence_id}:",
        "p_rung": occurrence_id,
        "p_template": "reminder_upcoming" if occurrence.phase is Phase.BEFORE else "reminder_overdue",
        "p_context": {"phase": occurrence.phase.value, "escalate": occurrence.escalate},
        "p_scheduled_at": occurrence.send_at,
        "p_created_at": now,
    }
    return len(session.execute(_reminders_statement(_dialect(session)), params).all())


@lru_cache(maxsize=None)
def _reminders_statement(dialect: str):
    """Queue one reminder per address of every owing assignment of a group (`_owing_now`) that has none for the
    occurrence yet, keys built in SQL; built once per dialect, the group and occurrence as parameters."""
    emails = _email_elements_for(dialect, U.c.emails, "e")
    address = func.lower(func.trim(emails.c.value))
    rung = _param("rung")
    key = literal("rem:") + cast(A.c.id, String) + bindparam("p_key_rung", type_=String) + address
    already = exists().where(O.c.assignment_id == A.c.id, O.c.rung == rung)
    rows = (
        select(
            key,
            _const("reminder", "kind"),
            A.c.campaign_id,
            A.c.id,
            A.c.unit_id,
            rung,
            address,
            _param("template"),
            _param("context"),
            _param("scheduled_at"),
            _const(OutboxStatus.PENDING.value, "status"),
            _const(0, "attempts"),
            _param("created_at"),
        )
        .select_from(A.join(U, U.c.id == A.c.unit_id).join(emails, true()))
        .where(_owing_now(), func.length(address).between(3, MAX_QUEUED_EMAIL_LENGTH), not_(already))
    )
    # RETURNING, because psycopg reports no rowcount for INSERT … SELECT … ON CONFLICT through SQLAlchemy.
    return _insert_ignoring_duplicates_for(dialect).from_select(_PLANNED_COLUMNS, rows).returning(O.c.id)


def _plan_escalations(
    session: Session, ctx: CampaignContext, group: ObligationGroup, occurrence: Occurrence, now: datetime
) -> int:
    params = {
        **_owing_params(group),
        "p_key_campaign": f"esc:{ctx.id}:",
        "p_key_day": f":{occurrence.day:%Y%m%d}:",
        "p_campaign_id": ctx.id,
        "p_context": {"day": occurrence.day.isoformat()},
        "p_scheduled_at": occurrence.send_at,
        "p_created_at": now,
    }
    return len(session.execute(_escalations_statement(_dialect(session)), params).all())


@lru_cache(maxsize=None)
def _escalations_statement(dialect: str):
    """Queue one escalation digest per (active parent, address) of the owing assignments of a group, however
    many children are overdue; built once per dialect, the group and occurrence as parameters."""
    parent = U.alias("parent")
    emails = _email_elements_for(dialect, parent.c.emails, "pe")
    address = func.lower(func.trim(emails.c.value))
    recipients = (  # one row per (parent, address) however many children are overdue
        select(parent.c.id.label("parent_id"), address.label("address"))
        .select_from(A.join(U, U.c.id == A.c.unit_id).join(parent, parent.c.id == U.c.parent_id).join(emails, true()))
        .where(_owing_now(), parent.c.active.is_(True), func.length(address).between(3, MAX_QUEUED_EMAIL_LENGTH))
        .distinct()
        .subquery("recipients")
    )
    key = (
        bindparam("p_key_campaign", type_=String)
        + cast(recipients.c.parent_id, String)
        + bindparam("p_key_day", type_=String)
        + recipients.c.address
    )
    rows = select(
        key,
        _const("escalation", "kind"),
        _param("campaign_id"),
        _const(None, "assignment_id"),
        recipients.c.parent_id,
        _const(None, "rung"),
        recipients.c.address,
        _const("digest_parent", "template"),
        _param("context"),
        _param("scheduled_at"),
        _const(OutboxStatus.PENDING.value, "status"),
        _const(0, "attempts"),
        _param("created_at"),
    ).where(true())  # SQLite needs a WHERE before ON CONFLICT to parse INSERT … SELECT … FROM (subquery)
    return _insert_ignoring_duplicates_for(dialect).from_select(_PLANNED_COLUMNS, rows).returning(O.c.id)


def _digest_window_end(ctx: CampaignContext, groups: Sequence[ObligationGroup]) -> date:
    """Office digests run while the campaign runs and while an owed report is still being chased."""
    last = ctx.ends_on
    for group in groups:
        reach = max((step.until_offset_days or step.offset_days) for step in group.ladder.rungs)
        last = max(last, group.due_on + timedelta(days=max(reach, 0)))
    return last


def _office_slot(ctx: CampaignContext, day: date) -> datetime:
    assert ctx.default_ladder is not None
    return local_to_utc(
        ctx.calendar.next_working_slot(datetime.combine(day, parse_hhmm(ctx.default_ladder.send_time))), ctx.timezone
    )


def _plan_office_digest(session: Session, ctx: CampaignContext, now: datetime) -> bool:
    frequency = ctx.office_frequency
    today = ctx.today(now)
    if frequency == "none" or not ctx.owner_email or not ctx.calendar.is_working_day(today):
        return False
    if not ctx.starts_on <= today or now < _office_slot(ctx, today):
        return False
    # After the campaign's end, only while an owed report is still chased (every owing group counts).
    if today > ctx.ends_on and today > _digest_window_end(ctx, obligation_groups(session, ctx)):
        return False
    # Weekly digests catch up on a later working day of the week if the first one was missed.
    period = office_digest_period(frequency, today)
    context: dict[str, Any] = {"period": period, "frequency": frequency}
    row = {
        "key": office_digest_key(ctx.id, period),
        "kind": "office_digest",
        "campaign_id": ctx.id,
        "assignment_id": None,
        "unit_id": None,
        "rung": None,
        "recipient": normalize_email(ctx.owner_email),
        "template": "digest_office",
        "context": context,
        "scheduled_at": now,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "created_at": now,
    }
    inserted = session.execute(_insert_row_statement(_dialect(session)), row).scalar()
    if inserted is None:
        return False  # queued by an earlier pass: its figures stay as they were taken then
    # The delivery figures as they stand now, at the start of the pass that sends the digest, before anything of
    # it is claimed: what the pass sends before composing the digest (it varies with batch sizes and timing) is
    # counted as waiting, never nowhere. Mail being sent by another dispatcher counts as waiting too.
    from .contents import DIGEST_FIGURES, office_digest_figures  # contents imports this module

    figures = office_digest_figures(
        session,
        ctx.id,
        ctx.timezone,
        now=now,
        frequency=frequency,
        waiting=(OutboxStatus.PENDING.value, OutboxStatus.CLAIMED.value),
        leave_out=inserted,
    )
    session.execute(update(O).where(O.c.id == inserted).values(context={**context, DIGEST_FIGURES: figures}))
    return True


@lru_cache(maxsize=None)
def _insert_row_statement(dialect: str):
    """One outbox row (the values as parameters) unless its key is queued already; returns its id if inserted."""
    return _insert_ignoring_duplicates_for(dialect).returning(O.c.id)


def plan_failure_reports(engine: Engine, campaign_ids: Iterable[int], now: datetime) -> int:
    queued = 0
    with Session(engine) as session, session.begin():
        for campaign_id in sorted(set(campaign_ids)):
            row = session.execute(select(C.c.owner_email, C.c.timezone).where(C.c.id == campaign_id)).first()
            if row is None or not row.owner_email:
                continue
            day = utc_to_local(now, row.timezone).date()
            values = {
                "key": failure_report_key(campaign_id, day),
                "kind": "failure_report",
                "campaign_id": campaign_id,
                "assignment_id": None,
                "unit_id": None,
                "rung": None,
                "recipient": normalize_email(row.owner_email),
                "template": "failure_report",
                "context": {"day": day.isoformat()},
                "scheduled_at": now,
                "status": OutboxStatus.PENDING.value,
                "attempts": 0,
                "created_at": now,
            }
            if _count_inserted(session, _insert_ignoring_duplicates(session).values(**values)):
                queued += 1
                audit_many(
                    session, [_audit_row("failure_report.planned", "campaign", campaign_id, campaign_id, {"date": day})]
                )
    return queued


def _audit_row(
    action: str,
    entity: str,
    entity_id: Any,
    campaign_id: int | None,
    after: dict[str, Any],
    actor: str = SYSTEM_ACTOR,
    note: str = "",
) -> dict[str, Any]:
    return {
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "campaign_id": campaign_id,
        "after": after,
        "note": note,
    }


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
                select(
                    A.c.id,
                    A.c.status,
                    U.c.id.label("unit_id"),
                    U.c.code,
                    U.c.name,
                    U.c.emails,
                    parent.c.id.label("parent_id"),
                    parent.c.code.label("parent_code"),
                    parent.c.name.label("parent_name"),
                    parent.c.emails.label("parent_emails"),
                    parent.c.active.label("parent_active"),
                )
                .select_from(A.join(U, U.c.id == A.c.unit_id).outerjoin(parent, parent.c.id == U.c.parent_id))
                .where(_owing(group, now), U.c.path >= low, U.c.path < high)
                .order_by(U.c.path)
            ).all()
            queued = {
                (r.assignment_id, r.rung)
                for r in session.execute(
                    select(O.c.assignment_id, O.c.rung)
                    .select_from(A.join(U, U.c.id == A.c.unit_id).join(O, O.c.assignment_id == A.c.id))
                    .where(
                        _owing(group, now),
                        U.c.path >= low,
                        U.c.path < high,
                        O.c.kind == "reminder",
                        O.c.created_at <= now,
                    )
                )
            }
            units = []
            for row in rows:
                recipients = _unit_recipients(row.emails)
                unit = PreviewUnit(
                    row.unit_id, row.code, row.name, recipients, row.id, row.status == AssignmentStatus.RETURNED.value
                )
                if recipients:
                    units.append(unit)
                else:
                    without_email[row.unit_id] = unit
            for occurrence in upcoming:
                pending_units = [u for u in units if (u.assignment_id, occurrence.occurrence_id) not in queued]
                send_at = max(occurrence.send_at, now)
                if pending_units:
                    batches.append(
                        PreviewBatch(
                            send_at, "reminder", pending_units, group.code, group.title, group.due_on, occurrence
                        )
                    )
                if occurrence.escalate and occurrence.phase is Phase.OVERDUE:
                    escalation_moment.setdefault(occurrence.day, send_at)
                    for row in rows:
                        if row.parent_id is not None and row.parent_active:
                            escalations[occurrence.day].setdefault(
                                row.parent_id,
                                PreviewUnit(
                                    row.parent_id, row.parent_code, row.parent_name, _unit_recipients(row.parent_emails)
                                ),
                            )
        already = set(
            session.execute(
                select(O.c.key).where(O.c.campaign_id == ctx.id, O.c.kind == "escalation", O.c.created_at <= now)
            ).scalars()
        )
        for day, parents in escalations.items():
            waiting = []
            for unit in parents.values():
                recipients = tuple(
                    r for r in unit.recipients if escalation_key(ctx.id, unit.unit_id, day, r) not in already
                )
                if recipients:
                    waiting.append(PreviewUnit(unit.unit_id, unit.code, unit.name, recipients))
            if waiting:
                batches.append(PreviewBatch(escalation_moment[day], "escalation", waiting))
        if unit_code is None:
            batches.extend(_preview_office_digests(session, ctx, groups, now, end))
    batches.sort(key=lambda b: (b.send_at, b.kind, b.obligation_code))
    return Preview(ctx, now, end, batches, sorted(without_email.values(), key=lambda u: u.code))


def _preview_office_digests(
    session: Session, ctx: CampaignContext, groups: Sequence[ObligationGroup], now: datetime, end: datetime
) -> list[PreviewBatch]:
    if ctx.office_frequency == "none" or not ctx.owner_email:
        return []
    queued = set(
        session.execute(
            select(O.c.key).where(O.c.campaign_id == ctx.id, O.c.kind == "office_digest", O.c.created_at <= now)
        ).scalars()
    )
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
