"""reminders: Mail contents (shared by dispatch and by `reminders render`)."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Collection, Sequence

from sqlalchemy import Integer, String, and_, bindparam, cast, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.links import make_obligation_link
from thidua.models.clock import DEFAULT_TZ, fmt_date, fmt_datetime, local_to_utc, utc_to_local
from thidua.models.outbox import OutboxStatus
from thidua.models.reminders import (
    Phase,
    days_left,
    deadline_phrase,
    escalation_key,
    is_plausible_email,
    office_digest_key,
    office_digest_period,
    reminder_key,
)
from thidua.models.status import SUBMITTED_STATUSES, AssignmentStatus
from thidua.models.vnformat import fmt_share
from thidua.notifications.message import build_message, message_id_for
from thidua.notifications.render import Renderer, get_renderer
from thidua.notifications.transport import (
    OutgoingMessage,
    SmtpSettings,
)
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)
from thidua.services.optout import unsubscribe_url
from thidua.settings import Settings

from .errors import _PROBLEM_STATUSES, DIGEST_LIST_LIMIT, KIND_LABELS, OB, STATUS_LABELS, A, C, O, SmtpRefused, U
from .planning import preview

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
    return make_obligation_link(settings, recipient, unit_id, assignment_id, now=now)


def reminder_context(
    campaign: CampaignInfo,
    *,
    unit_name: str,
    obligation_title: str,
    due_on: date,
    today: date,
    assignment_id: int,
    base_url: str,
    returned: bool,
    escalated_to: str = "",
    link: str | None = None,
) -> dict[str, Any]:
    days = days_left(due_on, today)
    return {
        **_layout(campaign),
        "unit_name": unit_name,
        "obligation_title": obligation_title,
        "due_date": _fmt_day(due_on),
        "days_left": days,
        "overdue_days": max(0, -days),
        "phrase": deadline_phrase(days),
        "link": link or obligation_link(base_url, assignment_id),
        "returned": returned,
        "escalated_to": escalated_to,
    }


# The campaign asked for last and its `layout` (a property, built on every call): a dispatch batch asks for the
# layout of one campaign object in every mail. Read only: callers copy it.
_last_layout: tuple[CampaignInfo, dict[str, str]] | None = None


def _layout(campaign: CampaignInfo) -> dict[str, str]:
    global _last_layout
    last = _last_layout
    if last is not None and last[0] is campaign:
        return last[1]
    layout = campaign.layout
    _last_layout = (campaign, layout)
    return layout


@lru_cache(maxsize=4096)  # a reminder's due date: a handful of days, printed in every reminder
def _fmt_day(day: date) -> str:
    return fmt_date(day)


def _overdue_children(session: Session, pairs: set[tuple[int, int]], at: datetime) -> dict[tuple[int, int], list[Any]]:
    """(campaign, parent) -> overdue owing assignments of its children at `at`."""
    if not pairs:
        return {}
    campaign_ids = {c for c, _ in pairs}
    parent_ids = {p for _, p in pairs}
    rows = session.execute(
        select(A.c.campaign_id, U.c.parent_id, U.c.code, U.c.name, A.c.id, A.c.due_on, A.c.status, OB.c.title)
        .select_from(A.join(U, U.c.id == A.c.unit_id).join(OB, OB.c.id == A.c.obligation_id))
        .where(
            U.c.parent_id.in_(parent_ids),
            A.c.campaign_id.in_(campaign_ids),
            A.c.active.is_(True),
            OB.c.active.is_(True),
            U.c.active.is_(True),
            A.c.status.not_in(SUBMITTED_STATUSES),
            A.c.due_at < at,
        )
        .order_by(U.c.parent_id, U.c.path, A.c.due_on)
    ).all()
    out: dict[tuple[int, int], list[Any]] = defaultdict(list)
    for row in rows:
        if (row.campaign_id, row.parent_id) in pairs:
            out[(row.campaign_id, row.parent_id)].append(row)
    return out


def parent_digest_context(
    campaign: CampaignInfo, *, parent_name: str, children: Sequence[Any], today: date, base_url: str
) -> dict[str, Any]:
    rows = [
        {
            "unit_name": c.name,
            "unit_code": c.code,
            "obligation_title": c.title,
            "due_date": fmt_date(c.due_on),
            "overdue_days": -days_left(c.due_on, today),
            "returned": c.status == AssignmentStatus.RETURNED.value,
            "link": obligation_link(base_url, c.id),
        }
        for c in children
    ]
    return {
        **campaign.layout,
        "parent_name": parent_name,
        "date": fmt_date(today),
        "rows": rows,
        "unit_count": len({c.code for c in children}),
        "item_count": len(rows),
    }


def _failure_rows(
    session: Session, campaign_id: int, start: datetime, end: datetime, limit: int
) -> tuple[list[dict[str, Any]], int]:
    condition = and_(
        O.c.campaign_id == campaign_id,
        O.c.status.in_(_PROBLEM_STATUSES),
        O.c.scheduled_at >= start,
        O.c.scheduled_at < end,
    )
    total = session.execute(select(func.count()).select_from(O).where(condition)).scalar_one()
    rows = session.execute(
        select(O.c.recipient, O.c.kind, O.c.status, O.c.last_error, U.c.name)
        .select_from(O.outerjoin(U, U.c.id == O.c.unit_id))
        .where(condition)
        .order_by(O.c.id.desc())
        .limit(limit)
    ).all()
    listed = [
        {
            "recipient": r.recipient,
            "unit_name": r.name or "—",
            "kind_label": KIND_LABELS.get(r.kind, r.kind),
            "status_label": STATUS_LABELS.get(r.status, r.status),
            "error": r.last_error or "",
        }
        for r in rows
    ]
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


@lru_cache(maxsize=65536)
def _stored_email_problems(stored: str | None) -> str | None:
    """`email_problems` of a unit's address list as the database returns its JSON text."""
    return email_problems(json.loads(stored) if stored is not None else None)


_DIGEST_STATUSES = ("sent", "failed", "partial", "unknown")


def office_digest_figures(
    session: Session,
    campaign_id: int,
    timezone: str,
    *,
    now: datetime,
    frequency: str,
    waiting: Sequence[str] = (OutboxStatus.PENDING.value,),
    leave_out: int | None = None,
) -> dict[str, Any]:
    """The delivery part of an office digest at `now`: the outcomes of the campaign's mail scheduled since the
    previous digest (the first: the last day or week), what still waits to be sent (rows in a `waiting` status,
    any date), and the failures listed. Consecutive digests' windows meet, so Friday afternoon's mail is in
    Monday's digest. `leave_out`: an outbox row not to count (the digest itself). JSON-ready: planning stores it in
    the digest's row (`DIGEST_FIGURES`), so the digest says what stood when it was planned."""
    others = [O.c.id != leave_out] if leave_out is not None else []
    previous = session.execute(
        select(func.max(O.c.scheduled_at)).where(
            O.c.campaign_id == campaign_id, O.c.kind == "office_digest", O.c.scheduled_at < now, *others
        )
    ).scalar_one()
    if previous is not None:
        since = previous if previous.tzinfo is not None else previous.replace(tzinfo=UTC)  # SQLite: naive UTC
    else:
        since = now - (timedelta(days=7) if frequency == "weekly" else timedelta(days=1))
    # The statuses the digest shows, named: then (campaign, status, window) is an index range per status; without
    # them SQLite's planner may skip-scan the status index and read every row of the window from the table.
    by_status = dict(
        session.execute(
            select(O.c.status, func.count())
            .where(
                O.c.campaign_id == campaign_id,
                O.c.status.in_(_DIGEST_STATUSES),
                O.c.scheduled_at >= since,
                O.c.scheduled_at < now,
                *others,
            )
            .group_by(O.c.status)
        ).all()
    )
    pending = session.execute(
        select(func.count())
        .select_from(O)
        .where(O.c.campaign_id == campaign_id, O.c.status.in_(list(waiting)), *others)
    ).scalar_one()
    delivery = {key: by_status.get(key, 0) for key in _DIGEST_STATUSES}
    delivery["pending"] = pending
    delivery["problems"] = delivery["failed"] + delivery["partial"] + delivery["unknown"]
    delivery["since"] = fmt_datetime(since, timezone)
    delivery["until"] = fmt_datetime(now, timezone)  # a digest sent later (or retried) still counts up to here
    failures, failures_more = _failure_rows(session, campaign_id, since, now, 20)
    return {"delivery": delivery, "failures": failures, "failures_more": failures_more}


# Units with an e-mail problem read back by id (more: read back with the others, as one ordered scan).
_FLAGGED_BY_ID = 500

# The key of an office digest's row context that holds `office_digest_figures` as they stood at its planning.
DIGEST_FIGURES = "figures"


@lru_cache(maxsize=1)
def _office_digest_statements() -> tuple[Any, Any, Any]:
    """The office digest's roll-up per obligation, the (id, stored address list) of the units that owe something
    and the EXISTS that says so, built once: `campaign_id` and `now` are bound at execution."""
    from thidua.services.status import rollup_columns  # the one roll-up definition (CLI, web, digests, reports)

    campaign_id, now = bindparam("campaign_id", type_=Integer), bindparam("now", type_=A.c.due_at.type)
    # Counted per obligation over the campaign's active assignments (one pass over them, no join per row), the
    # handful of obligations joined after. An assignment's unit always exists (a foreign key, enforced on SQLite
    # too: PRAGMA foreign_keys), so "not held by an inactive unit" is "held by an active unit", as the status report
    # reads it; the inactive units are a short list, not a lookup per assignment.
    counts = (
        select(A.c.obligation_id, *rollup_columns(now))
        .where(
            A.c.campaign_id == campaign_id,
            A.c.active.is_(True),
            A.c.unit_id.not_in(select(U.c.id).where(U.c.active.is_not(True))),
        )
        .group_by(A.c.obligation_id)
        .subquery("counts")
    )
    stats = (
        select(
            OB.c.title,
            OB.c.due_on,
            counts.c.owed.label("owing"),
            counts.c.submitted,
            counts.c.accepted,
            counts.c.returned,
            counts.c.overdue,
            counts.c.late_submitted,
        )
        .select_from(counts.join(OB, OB.c.id == counts.c.obligation_id))
        .where(OB.c.active.is_(True))
        .order_by(OB.c.due_on, OB.c.id)
    )
    # A probe of ix_assignment_unit_campaign per active unit.
    owes = (
        select(A.c.id)
        .where(A.c.unit_id == U.c.id, A.c.campaign_id == campaign_id, A.c.active.is_(True))
        .correlate(U)
        .exists()
    )
    stored = select(U.c.id, cast(U.c.emails, String)).where(U.c.active.is_(True), owes)
    return stats, stored, owes


def office_digest_context(
    session: Session,
    campaign: CampaignInfo,
    *,
    now: datetime,
    frequency: str,
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The office digest at `now`. `figures`: its delivery part as stored at planning (the digest's row);
    without them (previews, rows queued before they were stored) they are read now."""
    today = utc_to_local(now, campaign.timezone).date()
    stats_statement, stored_statement, owes = _office_digest_statements()
    binds = {"campaign_id": campaign.id, "now": now}
    stats = session.execute(stats_statement, binds).all()
    obligations = [
        {
            "title": s.title,
            "due_date": fmt_date(s.due_on),
            "owing": s.owing,
            "submitted": int(s.submitted or 0),
            "accepted": int(s.accepted or 0),
            "returned": int(s.returned or 0),
            "not_submitted": s.owing - int(s.submitted or 0),
            "overdue": int(s.overdue or 0),
            "late_submitted": int(s.late_submitted or 0),
            "rate": fmt_share(int(s.submitted or 0), s.owing),
            "due": s.due_on <= today,
        }
        for s in stats
    ]
    # The totals (and the subject) count what is due by today: a report due in December is not "missing" in June.
    due = [o for o in obligations if o["due"]]
    total_owing = sum(o["owing"] for o in due)
    total_submitted = sum(o["submitted"] for o in due)
    totals = {
        "owing": total_owing,
        "submitted": total_submitted,
        "overdue": sum(o["overdue"] for o in due),
        "rate": fmt_share(total_submitted, total_owing),
        "obligations": len(due),
        "not_yet_due": len(obligations) - len(due),
    }

    if figures is None:
        figures = office_digest_figures(session, campaign.id, campaign.timezone, now=now, frequency=frequency)

    # The units that owe the campaign something and cannot receive mail. The address lists as stored (JSON text):
    # each distinct list is decoded and checked once per process; codes and names are read only for the units
    # whose list has a problem (usually none).
    flagged = [
        unit_id for unit_id, emails in session.execute(stored_statement, binds).all() if _stored_email_problems(emails)
    ]
    bad: list[dict[str, Any]] = []
    if flagged:
        where = [U.c.active.is_(True), owes]
        if len(flagged) <= _FLAGGED_BY_ID:
            where.append(U.c.id.in_(flagged))
        listed = select(U.c.code, U.c.name, cast(U.c.emails, String).label("emails")).where(*where).order_by(U.c.code)
        bad = [
            {"code": u.code, "name": u.name, "problem": problem}
            for u in session.execute(listed, {"campaign_id": campaign.id}).all()
            if (problem := _stored_email_problems(u.emails))
        ]
    period_label = (
        f"tuần {today.isocalendar()[1]}/{today.isocalendar()[0]}"
        if frequency == "weekly"
        else f"ngày {fmt_date(today)}"
    )
    return {
        **campaign.layout,
        "campaign_code": campaign.code,
        "period_label": period_label,
        "as_of": fmt_datetime(now, campaign.timezone),
        "obligations": obligations,
        "totals": totals,
        "delivery": figures["delivery"],
        "failures": figures["failures"],
        "failures_more": figures["failures_more"],
        "bad_email_units": bad[:DIGEST_LIST_LIMIT],
        "bad_email_more": max(0, len(bad) - DIGEST_LIST_LIMIT),
        "bad_email_count": len(bad),
    }


def failure_report_context(session: Session, campaign: CampaignInfo, *, day: date, now: datetime) -> dict[str, Any]:
    start = local_to_utc(datetime.combine(day, datetime.min.time()), campaign.timezone)
    failures, more = _failure_rows(session, campaign.id, start, start + timedelta(days=1), DIGEST_LIST_LIMIT)
    return {
        **campaign.layout,
        "date": fmt_date(day),
        "failures": failures,
        "failures_more": more,
        "count": len(failures) + more,
    }


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


@lru_cache(maxsize=256)  # the office's address, the same on every mail of a campaign
def _plausible_reply_to(address: str) -> bool:
    return is_plausible_email(address)


# What differs between two reminders of one obligation, stage and campaign (the rest is rendered once).
REMINDER_PER_RECIPIENT = frozenset({"unit_name", "link", "unsubscribe_url", "escalated_to"})


def compose(
    *,
    key: str,
    recipient: str,
    display_name: str,
    template: str,
    context: dict[str, Any],
    reply_to: str | None,
    smtp: SmtpSettings,
    mail_domain: str,
    now: datetime,
    kind: str,
    renderer: Renderer,
    campaign: CampaignInfo | None = None,
    unsubscribe: str | None = None,
    reply_name: str = "",
    per_recipient: Collection[str] = (),
) -> tuple[OutgoingMessage, str]:
    """Render and build one mail; returns the message and its Message-ID.

    With `campaign` the mail comes from its office (From and Reply-To named after the department and the
    federation), is dated in the campaign's time zone and carries List-Id; `unsubscribe` (a URL) adds the
    RFC 8058 one-click headers and the footer link. `per_recipient` names the context values that differ
    from one recipient to the next in a mass mailing (`REMINDER_PER_RECIPIENT`): the rest is rendered once
    and these are filled in (`Renderer.render_filled`, the same text as a full render).
    Raises ValueError (bad address) or TemplateRenderError: both permanent for this mail."""
    if unsubscribe:
        context = {**context, "unsubscribe_url": unsubscribe}
    mail = (
        renderer.render_filled(template, context, per_recipient)
        if per_recipient
        else renderer.render(template, context)
    )
    message_id = message_id_for(key, mail_domain)
    sender, reply, campaign_list_id = _office_parts(campaign, smtp, reply_to, reply_name, mail_domain)
    headers = {"Auto-Submitted": "auto-generated", "X-Thidua-Kind": kind}
    if campaign_list_id is not None:
        headers["List-Id"] = campaign_list_id
    if unsubscribe:
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    raw = build_message(
        sender=sender,
        to=[display_address(display_name, recipient)],
        subject=mail.subject,
        text=mail.text,
        html=mail.html,
        message_id=message_id,
        reply_to=reply,
        date=_local_moment(now, campaign.timezone if campaign else DEFAULT_TZ),
        extra_headers=headers,
    )
    return OutgoingMessage(key=key, sender=smtp.sender, recipients=[recipient], raw=raw, wire_ready=True), message_id


# What every mail of one campaign object from one SMTP sender carries alike (sender, Reply-To, List-Id), for the
# arguments compose was last called with: a dispatch batch composes all its mail of a campaign with one object.
_last_office: tuple[Any, ...] | None = None


def _office_parts(
    campaign: CampaignInfo | None, smtp: SmtpSettings, reply_to: str | None, reply_name: str, mail_domain: str
) -> tuple[str, str | None, str | None]:
    """(From, Reply-To or None, List-Id or None) of `compose`."""
    global _last_office
    last = _last_office
    if (
        last is not None
        and last[0] is campaign
        and last[1] is smtp
        and last[2] == reply_to
        and last[3] == reply_name
        and last[4] == mail_domain
    ):
        return last[5]  # type: ignore[no-any-return]
    sender = (
        display_address(campaign.office_name, smtp.sender) if campaign and campaign.office_name else smtp.from_header
    )
    reply = reply_to if reply_to and _plausible_reply_to(reply_to) else None
    if reply:
        reply = display_address(reply_name or (campaign.reply_name if campaign else ""), reply)
    parts = (sender, reply, list_id(campaign, mail_domain) if campaign is not None else None)
    _last_office = (campaign, smtp, reply_to, reply_name, mail_domain, parts)
    return parts


_last_moment: tuple[datetime, str, datetime] | None = None


def _local_moment(now: datetime, timezone: str) -> datetime:
    """`utc_to_local(now, timezone)`: a pass dates all its mail with one moment."""
    global _last_moment
    last = _last_moment
    if last is not None and last[0] == now and last[1] == timezone and last[0].tzinfo is now.tzinfo:
        return last[2]
    local = utc_to_local(now, timezone)
    _last_moment = (now, timezone, local)
    return local


def render_preview(
    engine: Engine,
    settings: Settings,
    code: str,
    *,
    now: datetime,
    days: int = 1,
    unit_code: str | None = None,
    limit: int = 1000,
    smtp: SmtpSettings | None = None,
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
                    context = reminder_context(
                        campaign,
                        unit_name=unit.name,
                        obligation_title=batch.obligation_title,
                        due_on=batch.due_on,
                        today=today,
                        assignment_id=unit.assignment_id,
                        base_url=settings.base_url,
                        returned=unit.returned,
                    )
                    template = "reminder_upcoming" if batch.occurrence.phase is Phase.BEFORE else "reminder_overdue"
                    keys = [
                        reminder_key(unit.assignment_id, batch.occurrence.occurrence_id, r) for r in unit.recipients
                    ]
                elif batch.kind == "escalation":
                    children = _overdue_children(session, {(ctx.id, unit.unit_id)}, batch.send_at).get(
                        (ctx.id, unit.unit_id), []
                    )
                    context = parent_digest_context(
                        campaign, parent_name=unit.name, children=children, today=today, base_url=settings.base_url
                    )
                    template = "digest_parent"
                    keys = [escalation_key(ctx.id, unit.unit_id, today, r) for r in unit.recipients]
                else:
                    context = office_digest_context(
                        session, campaign, now=batch.send_at, frequency=ctx.office_frequency
                    )
                    template = "digest_office"
                    keys = [office_digest_key(ctx.id, office_digest_period(ctx.office_frequency, today))]
                for key, recipient in zip(keys, unit.recipients):
                    if not is_plausible_email(recipient):
                        continue  # dispatch records these as failed; the office digest lists them
                    message, _ = compose(
                        key=key,
                        recipient=recipient,
                        display_name=unit.name,
                        template=template,
                        context=context,
                        reply_to=ctx.owner_email,
                        smtp=smtp,
                        mail_domain=settings.mail_domain,
                        now=batch.send_at,
                        kind=batch.kind,
                        renderer=renderer,
                        campaign=campaign,
                        unsubscribe=unsubscribe_url(
                            settings, recipient, ctx.id, unit.assignment_id if batch.kind == "reminder" else None
                        ),
                    )
                    out.append((key, message.raw))
    return out


def smtp_settings(settings: Settings) -> SmtpSettings:
    try:
        return SmtpSettings(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,  # type: ignore[arg-type]
            username=settings.smtp_username,
            password=settings.smtp_password,
            sender=settings.smtp_sender,
            sender_name=settings.smtp_sender_name,
            connections=settings.smtp_connections,
        )
    except ValueError as exc:
        raise SmtpRefused(f"cấu hình SMTP không hợp lệ (THIDUA_SMTP_*): {exc}") from exc
