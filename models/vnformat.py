"""The one place where numbers, percentages, dates and money become Vietnamese text (pure, no I/O).

Web pages (Jinja filters), mail templates, the CLI and the DOCX/XLSX reports all print through these
functions, so one figure reads the same everywhere: `1.192`, `1.830,2`, `92,3 %`, `1.129/1.192`,
`05/03/2023`, `08:00 05/03/2023`, `1.500.000 đồng`.

Conventions (TCVN / Nghị định 30/2020/NĐ-CP usage): '.' groups thousands, ',' is the decimal mark, a
space before '%'; rounding is half-up on the decimal value people see (92,25 -> 92,3), trailing
zero decimals are dropped (8.000, not 8.000,0); dates are dd/mm/yyyy in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
MISSING = "—"  # a figure that does not exist (no data, division by zero)
PERCENT_SIGN = " %"

# Excel number formats of the same conventions (Excel shows them with the reader's locale marks).
XLSX_INTEGER = "#,##0"
XLSX_DECIMAL = "#,##0.0##"
XLSX_PERCENT = '0.0" %"'
XLSX_DATE = "DD/MM/YYYY"
XLSX_DATETIME = "DD/MM/YYYY HH:MM"


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def fmt_number(value: Any, digits: int = 1, *, fixed: bool = False, missing: str = "") -> str:
    """12345 -> '12.345'; 1830.24 -> '1.830,2'; 8000.0 -> '8.000'. `digits` decimals at most (exactly, with
    `fixed`); half-up rounding. None and non-numbers give `missing`."""
    number = _decimal(value)
    if number is None:
        return missing
    quantum = Decimal(1).scaleb(-digits)
    number = number.quantize(quantum, rounding=ROUND_HALF_UP)
    if number == 0:
        number = abs(number)  # no '-0'
    sign = "-" if number < 0 else ""
    whole, _, fraction = f"{abs(number):f}".partition(".")
    if not fixed:
        fraction = fraction.rstrip("0")
    groups: list[str] = []
    while len(whole) > 3:
        whole, groups = whole[:-3], [whole[-3:], *groups]
    text = ".".join([whole, *groups])
    return f"{sign}{text},{fraction}" if fraction else f"{sign}{text}"


def fmt_integer(value: Any, *, missing: str = "") -> str:
    """A count: 1192 -> '1.192'."""
    return fmt_number(value, 0, missing=missing)


def fmt_percent(value: Any, digits: int = 1, *, missing: str = "") -> str:
    """A value already in percent: 92.31 -> '92,3 %' (a space before '%')."""
    text = fmt_number(value, digits, missing="")
    return text + PERCENT_SIGN if text else missing


def share_percent(part: Any, whole: Any) -> float | None:
    """100·part/whole, or None when whole is 0 or missing (the number, for sorting and spreadsheets)."""
    if part is None or not whole:
        return None
    return 100.0 * float(part) / float(whole)


def fmt_share(part: Any, whole: Any, digits: int = 1, *, missing: str = MISSING) -> str:
    """1129 of 1192 -> '94,7 %'; '—' when there is nothing to divide by."""
    return fmt_percent(share_percent(part, whole), digits, missing=missing)


def fmt_fraction(part: Any, whole: Any) -> str:
    """1129 of 1192 -> '1.129/1.192'."""
    return f"{fmt_integer(part, missing='0')}/{fmt_integer(whole, missing='0')}"


def fmt_money(value: Any, *, unit: str = "đồng", missing: str = "") -> str:
    """1500000 -> '1.500.000 đồng' (whole đồng)."""
    text = fmt_number(value, 0)
    return f"{text} {unit}" if text else missing


def fmt_seconds(value: Any) -> str:
    """A duration for people: 12.345 -> '12,3 giây'."""
    return fmt_number(value, 1, missing="0") + " giây"


def _local(moment: datetime, tz: str) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(ZoneInfo(tz))


def fmt_date(day: date | datetime | None, tz: str | None = None) -> str:
    """dd/mm/yyyy, the only date format users see. An aware moment is first put in `tz` when given."""
    if day is None:
        return ""
    if tz is not None and isinstance(day, datetime) and day.tzinfo is not None:
        day = _local(day, tz)
    return day.strftime("%d/%m/%Y")


def fmt_datetime(moment: datetime | None, tz: str = DEFAULT_TZ) -> str:
    """'08:00 05/03/2023' in `tz` (naive moments are UTC, the storage convention)."""
    return "" if moment is None else _local(moment, tz).strftime("%H:%M %d/%m/%Y")


def fmt_moment(moment: datetime, tz: str = DEFAULT_TZ) -> str:
    """'14:05 ngày 20/06/2023' (running text of reports)."""
    local = _local(moment, tz)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def fmt_document_date(day: date, place: str = "") -> str:
    """The date line of an administrative document (Nghị định 30/2020, Phụ lục I): days below 10 and the
    months 1 and 2 take a leading zero — 'Bình Định, ngày 05 tháng 02 năm 2023', '… ngày 15 tháng 3 năm 2023'."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    text = f"ngày {day.day:02d} tháng {month} năm {day.year}"
    return f"{place}, {text}" if place else text


# Jinja filter names used by the web pages and the mail templates (one registry, the same output).
JINJA_FILTERS = {
    "so": fmt_number,
    "so_nguyen": fmt_integer,
    "phantram": fmt_percent,
    "ty_le": fmt_share,
    "phan_so": fmt_fraction,
    "tien": fmt_money,
    "ngay": lambda value, tz=DEFAULT_TZ: fmt_date(value, tz) if isinstance(value, (date, datetime)) else (value or ""),
    "ngaygio": fmt_datetime,
}
