"""Working calendar: working days, hours and public holidays of a campaign (pure; data comes in)."""
from __future__ import annotations

from datetime import date, timedelta

from models.spec.reminders import CalendarSpec


def is_working_day(day: date, calendar: CalendarSpec, holidays: frozenset[date]) -> bool:
    return day.isoweekday() in calendar.working_days and day not in holidays


def adjust_deadline(day: date, calendar: CalendarSpec, holidays: frozenset[date]) -> date:
    """A deadline on a day off stays, or moves to the next working day, as the campaign file says."""
    if calendar.deadline_on_holiday == "keep":
        return day
    while not is_working_day(day, calendar, holidays):
        day += timedelta(days=1)
    return day
