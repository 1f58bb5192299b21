"""Time helpers. Every rule takes `now` as an argument; only adapters call utcnow()."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from thidua.models.vnformat import (
    fmt_date as fmt_date,
    fmt_datetime as fmt_datetime,
)  # re-exported: one formatting module

DEFAULT_TZ = "Asia/Ho_Chi_Minh"


def utcnow() -> datetime:
    """Aware UTC, the storage convention (SQLModel stores aware datetimes as UTC)."""
    return datetime.now(timezone.utc)


def end_of_day_utc(day: date, tz: str = DEFAULT_TZ) -> datetime:
    """23:59:59 of a local date, as aware UTC: the moment a deadline on that date passes."""
    local = datetime.combine(day, time(23, 59, 59), tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def local_to_utc(moment: datetime, tz: str = DEFAULT_TZ) -> datetime:
    """A wall-clock time of the campaign's zone (naive) or any aware time -> aware UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(tz))
    return moment.astimezone(timezone.utc)


def utc_to_local(moment: datetime, tz: str = DEFAULT_TZ) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(tz))


def parse_date(text: str) -> date:
    """Accept dd/mm/yyyy (what users write) and yyyy-mm-dd."""
    text = text.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"ngày không hợp lệ: '{text}' (dùng dạng dd/mm/yyyy)")
