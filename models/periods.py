"""Calendar periods of recurring obligations (pure): months, quarters, halves and years inside a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Every = Literal["month", "quarter", "half_year", "year"]
MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}
EVERY_LABELS = {"month": "hằng tháng", "quarter": "hằng quý", "half_year": "6 tháng một lần", "year": "hằng năm"}
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


@dataclass(frozen=True)
class Period:
    key: str  # '2024-03', '2024-q1', '2024-h1', '2024': unique, sortable, part of the period's obligation code
    label: str  # shown to users: 'tháng 03/2024', 'quý I/2024', '6 tháng đầu năm 2024', 'năm 2024'
    starts: date  # clipped to the window
    ends: date


def _month_end(year: int, month: int) -> date:
    first_of_next = date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def _key_and_label(every: str, year: int, first_month: int) -> tuple[str, str]:
    if every == "month":
        return f"{year}-{first_month:02d}", f"tháng {first_month:02d}/{year}"
    if every == "quarter":
        quarter = (first_month - 1) // 3 + 1
        return f"{year}-q{quarter}", f"quý {_ROMAN[quarter]}/{year}"
    if every == "half_year":
        half = 1 if first_month == 1 else 2
        return f"{year}-h{half}", f"6 tháng {'đầu' if half == 1 else 'cuối'} năm {year}"
    return f"{year}", f"năm {year}"


def periods(every: str, start: date, end: date) -> list[Period]:
    """The calendar periods that overlap [start, end], each clipped to the window, in order."""
    step = MONTHS_PER_PERIOD[every]
    out: list[Period] = []
    year, month = start.year, ((start.month - 1) // step) * step + 1
    while date(year, month, 1) <= end:
        last_month = month + step - 1
        key, label = _key_and_label(every, year, month)
        out.append(Period(key, label, max(date(year, month, 1), start), min(_month_end(year, last_month), end)))
        month += step
        if month > 12:
            year, month = year + 1, month - 12
    return out


def label_of_key(key: str) -> str:
    """The label of a period from its key ('2024-03' → 'tháng 03/2024', '2024-q1' → 'quý I/2024', …)."""
    year, _, part = key.partition("-")
    if not part:
        return f"năm {year}"
    if part.startswith("q"):
        return f"quý {_ROMAN[int(part[1:])]}/{year}"
    if part.startswith("h"):
        return f"6 tháng {'đầu' if part == 'h1' else 'cuối'} năm {year}"
    return f"tháng {part}/{year}"
