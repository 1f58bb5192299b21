"""Reminder rules (pure: no I/O). Which reminder goes out when, to whom, and under which ledger key.

A ladder (models/spec/reminders.py) is expanded, for one due date, into *occurrences*: one per rung and,
for repeating rungs, per repetition (n = 0, 1, ...). Rules, in order:

1. Nominal moment: local date `due_on + offset_days`, at the ladder's `send_time`.
2. Day off: a reminder before or on the deadline (offset ≤ 0) whose nominal date is not a working day moves
   to the PREVIOUS working day (units keep their lead time); an overdue one moves to the NEXT working day.
   Either way it goes at the ladder's `send_time` (or the working slot around it, if `send_time` lies
   outside working hours; a reminder before the deadline never moves past it). Example: so-ket-dot-2 due
   Tue 10/10/2023: −7 → Tue 03/10 08:00; −3 = Sat 07/10 → Fri 06/10 08:00; −1 → Mon 09/10 08:00;
   +4 = Sat 14/10 → Mon 16/10 08:00.
3. One reminder per day per assignment: occurrences falling on the same local date collapse into the
   one with the largest offset (the most urgent), at its own moment.
4. No reminder before the obligation opens (or the campaign starts).
5. Mail is only planned and sent at working moments (services/reminders.py): a reminder that becomes
   current outside working hours (e.g. a report returned on a Saturday) waits for the next working slot.

At a given `now` at most one occurrence per assignment is *current*: the latest whose moment has come,
until the day of the next occurrence begins (a later rung replaces an earlier one that was missed, e.g.
while the server was down, and a late catch-up never makes two mails on one day); a reminder before the
deadline is dropped once the deadline has passed; the last occurrence is not sent more than
`LAST_OCCURRENCE_GRACE` late. The wording (days left / overdue) is
computed on the day the mail is sent, so it is always true when read.

Escalation: an overdue occurrence of a rung with `escalate: true` also puts the unit's parent on that
day's digest: one e-mail per parent per day, listing every overdue child at the time of sending.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Iterable

from thidua.models.clock import local_to_utc
from thidua.models.emails import is_valid_email, normalise_email
from thidua.models.spec.reminders import Ladder, Rung
from thidua.models.workcalendar import WorkingCalendar, parse_hhmm

LAST_OCCURRENCE_GRACE = timedelta(days=7)


class Phase(StrEnum):
    BEFORE = "before"  # on or before the due date
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Occurrence:
    rung: str
    n: int  # repetition number of a repeating rung (0 for the first)
    offset_days: int
    escalate: bool
    send_local: datetime  # naive wall clock of the campaign's time zone
    send_at: datetime  # aware UTC

    @property
    def occurrence_id(self) -> str:
        """What the ledger stores in `outbox.rung` and what the key is built from."""
        return f"{self.rung}:{self.n}"

    @property
    def phase(self) -> Phase:
        return Phase.BEFORE if self.offset_days <= 0 else Phase.OVERDUE

    @property
    def day(self) -> date:
        return self.send_local.date()


def expand_rungs(ladder: Ladder) -> list[tuple[Rung, int, int]]:
    """(rung, n, offset_days) of every step, repeating rungs unrolled up to their `until_offset_days`."""
    steps: list[tuple[Rung, int, int]] = []
    for rung in ladder.rungs:
        if rung.repeat_every_days is None:
            steps.append((rung, 0, rung.offset_days))
            continue
        assert rung.until_offset_days is not None  # the schema requires it for repeating rungs
        offset, n = rung.offset_days, 0
        while offset <= rung.until_offset_days:
            steps.append((rung, n, offset))
            offset += rung.repeat_every_days
            n += 1
    return steps


def schedule(
    ladder: Ladder, due_on: date, calendar: WorkingCalendar, tz: str, *, not_before: date | None = None
) -> list[Occurrence]:
    """Every occurrence of `ladder` for an assignment due on `due_on`, in sending order (rules 1–5)."""
    send_time = parse_hhmm(ladder.send_time)
    by_day: dict[date, Occurrence] = {}
    for rung, n, offset in expand_rungs(ladder):
        nominal = due_on + timedelta(days=offset)
        before = offset <= 0
        day = calendar.previous_working_day(nominal) if before else calendar.next_working_day(nominal)
        local = calendar.next_working_slot(datetime.combine(day, send_time))
        if before and local.date() > day:  # send_time after working hours: that same day's opening instead
            local = datetime.combine(day, calendar.opens)
        if not_before is not None and local.date() < not_before:
            continue
        occurrence = Occurrence(rung.code, n, offset, rung.escalate, local, local_to_utc(local, tz))
        kept = by_day.get(local.date())
        if kept is None or offset > kept.offset_days:
            by_day[local.date()] = occurrence
    return sorted(by_day.values(), key=lambda o: o.send_at)


def current_occurrence(occurrences: list[Occurrence], now: datetime, due_at: datetime) -> Occurrence | None:
    """The occurrence to send at `now` (aware UTC), if any: see the module docstring."""
    index = None
    for i, occurrence in enumerate(occurrences):
        if occurrence.send_at > now:
            break
        index = i
    if index is None:
        return None
    occurrence = occurrences[index]
    if index + 1 < len(occurrences):
        following = occurrences[index + 1]
        # Local midnight starting the next occurrence's day: never two mails on one day, even when catching up.
        ends = following.send_at - (following.send_local - datetime.combine(following.day, datetime.min.time()))
    else:
        ends = occurrence.send_at + LAST_OCCURRENCE_GRACE
    if occurrence.phase is Phase.BEFORE:
        ends = min(ends, due_at)
    return occurrence if now < ends else None


def occurrences_between(occurrences: Iterable[Occurrence], start: datetime, end: datetime) -> list[Occurrence]:
    """Occurrences whose moment is in [start, end)."""
    return [o for o in occurrences if start <= o.send_at < end]


# ---------------------------------------------------------------------------------------------------
# Wording
# ---------------------------------------------------------------------------------------------------
def days_left(due_on: date, today: date) -> int:
    """Calendar days until the due date; negative once overdue."""
    return (due_on - today).days


def deadline_phrase(days: int) -> str:
    if days > 0:
        return f"Còn {days} ngày"
    if days == 0:
        return "Hôm nay là hạn cuối"
    return f"Quá hạn {-days} ngày"


# ---------------------------------------------------------------------------------------------------
# Office digest
# ---------------------------------------------------------------------------------------------------
def office_digest_due(frequency: str, day: date, calendar: WorkingCalendar) -> bool:
    """Daily: every working day. Weekly: the first working day of the ISO week."""
    if frequency == "none" or not calendar.is_working_day(day):
        return False
    if frequency == "daily":
        return True
    monday = day - timedelta(days=day.weekday())
    return calendar.next_working_day(monday) == day


def office_digest_period(frequency: str, day: date) -> str:
    if frequency == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()


normalize_email = normalise_email  # the comparison form (models/emails.py); this name is kept for callers


# ---------------------------------------------------------------------------------------------------
# Ledger keys: one row per mail, unique; the same key is never sent twice.
# The SQL producers in thidua/services/reminders.py build the same strings (tested against these).
# ---------------------------------------------------------------------------------------------------
def reminder_key(assignment_id: int, occurrence_id: str, email: str) -> str:
    return f"rem:{assignment_id}:{occurrence_id}:{normalise_email(email)}"


def escalation_key(campaign_id: int, parent_unit_id: int, day: date, email: str) -> str:
    return f"esc:{campaign_id}:{parent_unit_id}:{day:%Y%m%d}:{normalise_email(email)}"


def office_digest_key(campaign_id: int, period: str) -> str:
    return f"office:{campaign_id}:{period}"


def failure_report_key(campaign_id: int, day: date) -> str:
    return f"fail:{campaign_id}:{day:%Y%m%d}"


# Keys must fit outbox.key (200 characters): longer addresses are reported, never queued.
MAX_QUEUED_EMAIL_LENGTH = 150


def is_plausible_email(address: str) -> bool:
    """Fit to hand to SMTP and to key the ledger with: a valid address (models/emails.py), ASCII, short enough."""
    address = address.strip()
    return len(address) <= MAX_QUEUED_EMAIL_LENGTH and address.isascii() and is_valid_email(address)
