"""Working calendar: working days, hours and public holidays of a campaign (pure; data comes in).

Sending rule (documented for operators): mail goes out only inside working hours
(`working_hours_start` ≤ time < `working_hours_end`, local time of the campaign) on a working day
(a day of `working_days` that is not a holiday). A moment outside that goes to the NEXT working slot:
earlier than the start on a working day → the start of that day; after the end, or on a day off →
the start of the next working day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from thidua.errors import InvalidInputError
from thidua.models.spec.reminders import CalendarSpec

# A calendar whose working days are all holidays for longer than this is treated as broken data.
_MAX_SEARCH_DAYS = 370


class NoWorkingDayError(InvalidInputError, ValueError):
    """The calendar has no working day in a whole year (e.g. every weekday declared a holiday)."""


class DaysOff(frozenset[date]):
    """Holidays (the set's members) with what the calendar source also knows: days worked although they fall
    on a day that is normally off (a Saturday worked in exchange for a bridge day), holiday names, and the
    years the source covers (None: not known)."""

    worked: frozenset[date]
    names: dict[date, str]
    covered_years: frozenset[int] | None

    def __new__(
        cls,
        days: Iterable[date] = (),
        *,
        worked: Iterable[date] = (),
        names: Mapping[date, str] | None = None,
        covered_years: Iterable[int] | None = None,
    ) -> "DaysOff":
        self = super().__new__(cls, days)
        self.worked = frozenset(worked)
        self.names = dict(names or {})
        self.covered_years = None if covered_years is None else frozenset(covered_years)
        return self


def is_working_day(day: date, calendar: CalendarSpec, holidays: frozenset[date]) -> bool:
    worked = getattr(holidays, "worked", ())
    return (day.isoweekday() in calendar.working_days or day in worked) and day not in holidays


def adjust_deadline(day: date, calendar: CalendarSpec, holidays: frozenset[date]) -> date:
    """A deadline on a day off stays, or moves to the next working day, as the campaign file says."""
    if calendar.deadline_on_holiday == "keep":
        return day
    while not is_working_day(day, calendar, holidays):
        day += timedelta(days=1)
    return day


def parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


@dataclass(frozen=True)
class WorkingCalendar:
    """A campaign's calendar with its holidays resolved. Works on naive local wall-clock datetimes."""

    spec: CalendarSpec
    holidays: frozenset[date]

    @property
    def opens(self) -> time:
        return parse_hhmm(self.spec.working_hours_start)

    @property
    def closes(self) -> time:
        return parse_hhmm(self.spec.working_hours_end)

    def is_working_day(self, day: date) -> bool:
        return is_working_day(day, self.spec, self.holidays)

    def is_working_moment(self, moment: datetime) -> bool:
        return self.is_working_day(moment.date()) and self.opens <= moment.time() < self.closes

    def next_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the first working day after it."""
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_working_day(day):
                return day
            day += timedelta(days=1)
        raise NoWorkingDayError(f"lịch làm việc không có ngày làm việc nào sau {day:%d/%m/%Y}")

    def previous_working_day(self, day: date) -> date:
        """`day` itself when it is a working day, else the last working day before it."""
        for _ in range(_MAX_SEARCH_DAYS):
            if self.is_working_day(day):
                return day
            day -= timedelta(days=1)
        raise NoWorkingDayError(f"lịch làm việc không có ngày làm việc nào trước {day:%d/%m/%Y}")

    def next_working_slot(self, moment: datetime) -> datetime:
        """`moment` if it is inside working hours of a working day, else the next opening time."""
        if self.is_working_moment(moment):
            return moment
        day = moment.date()
        if self.is_working_day(day) and moment.time() < self.opens:
            return datetime.combine(day, self.opens)
        return datetime.combine(self.next_working_day(day + timedelta(days=1)), self.opens)
