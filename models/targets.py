"""Target progress (pure): roll reported values up into a figure, compare it with the target, and
forecast the figure at the deadline.

The forecast is linear from the campaign's start: figure × (days from start to deadline) / (days from
start to the date asked about). Round reports arrive in bursts after each round, so it is a rough guide;
every result carries that sentence so that nobody reads it as more. Averages are not forecast (an average
does not accumulate), shares are capped at 100 %.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Sequence

from thidua.models.forms import fold
from thidua.models.spec.campaign import TargetCondition

FORECAST_NOTE = "Dự báo tuyến tính theo nhịp độ bình quân từ ngày bắt đầu chiến dịch ({start}) đến ngày xem ({at})."


@dataclass(frozen=True)
class Report:
    """One counted report's value of the target's field (None when the unit left it empty)."""

    unit_id: int
    value: Any
    obligation_id: int | None = None  # the period a recurring obligation's report belongs to
    base: Any = None  # ratio targets: this report's denominator (a field of the report or a unit attribute)


@dataclass(frozen=True)
class Figure:
    value: float | None  # the sum, the average, or the share in % (None: nothing to average)
    reports: int  # reports holding a value
    units_reported: int
    units_owing: int
    units_meeting: int | None = None  # share targets only


@dataclass(frozen=True)
class Progress:
    figure: Figure
    target: float
    percent_of_target: float | None
    achieved: bool
    forecast: float | None
    on_track: bool | None  # None when there is nothing to forecast
    note: str

    @property
    def verdict(self) -> str:
        if self.achieved:
            return "Đã đạt"
        if self.on_track is None:
            return "Chưa đạt"
        return "Đúng tiến độ" if self.on_track else "Chậm tiến độ"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def condition_holds(condition: TargetCondition, value: Any) -> bool:
    """Whether one reported value meets a share target's condition. An empty value never does."""
    if value is None:
        return False
    op = condition.op
    if op == "truthy":
        if isinstance(value, str):
            return bool(value.strip())
        return bool(value)
    if op == "in":
        wanted = condition.value if isinstance(condition.value, list) else [condition.value]
        return fold(value) in {fold(w) for w in wanted}
    left, right = _number(value), _number(condition.value)
    if left is None or right is None:
        return op == "==" and fold(value) == fold(condition.value)
    return {">=": left >= right, ">": left > right, "==": left == right, "<=": left <= right, "<": left < right}[op]


def rollup_figure(rollup: str, condition: TargetCondition | None, reports: Sequence[Report],
                  owing_units: Iterable[int], periods_due: dict[int, set[int]] | None = None) -> Figure:
    """sum: total of the values; average: mean of the values given; share: % of owing units with at least
    one report meeting the condition. With `periods_due` (unit -> the period obligations it owed by then) a
    share counts a unit only when it met the condition in every one of those periods."""
    owing = set(owing_units)
    if rollup == "share" and periods_due is not None:
        assert condition is not None
        met: dict[int, set[int]] = {}
        for r in reports:
            if r.obligation_id is not None and condition_holds(condition, r.value):
                met.setdefault(r.unit_id, set()).add(r.obligation_id)
        meeting = {u for u in owing if periods_due.get(u) and periods_due[u] <= met.get(u, set())}
        given = sum(1 for r in reports if r.value is not None)
        return Figure(100.0 * len(meeting) / len(owing) if owing else None, given,
                      len({r.unit_id for r in reports}), len(owing), len(meeting))
    reported = {r.unit_id for r in reports}
    numbers = [n for n in (_number(r.value) for r in reports) if n is not None]
    if rollup == "sum":
        return Figure(float(sum(numbers)), len(numbers), len(reported), len(owing))
    if rollup == "count":  # reports meeting the condition (every report holding a value without one)
        counted = [r for r in reports if (condition_holds(condition, r.value) if condition else r.value is not None)]
        return Figure(float(len(counted)), len(counted), len(reported), len(owing), len({r.unit_id for r in counted}))
    if rollup == "ratio":  # Σ values / Σ bases over the reports holding both, in %
        pairs = [(n, b) for n, b in ((_number(r.value), _number(r.base)) for r in reports) if n is not None and b is not None]
        total_base = sum(b for _, b in pairs)
        value = 100.0 * sum(n for n, _ in pairs) / total_base if total_base else None
        return Figure(value, len(pairs), len(reported), len(owing))
    if rollup == "average":
        return Figure(sum(numbers) / len(numbers) if numbers else None, len(numbers), len(reported), len(owing))
    if rollup == "share":
        assert condition is not None  # the campaign schema requires it
        meeting = {r.unit_id for r in reports if r.unit_id in owing and condition_holds(condition, r.value)}
        share = 100.0 * len(meeting) / len(owing) if owing else None
        given = sum(1 for r in reports if r.value is not None)
        return Figure(share, given, len(reported), len(owing), len(meeting))
    raise ValueError(f"unknown rollup {rollup!r}")


def linear_forecast(value: float, *, start: date, at: date, deadline: date, cap: float | None = None) -> float | None:
    """The value at the deadline if the pace since `start` goes on (both ends of each span counted)."""
    if at >= deadline or at < start:
        return None
    elapsed = (at - start).days + 1
    total = (deadline - start).days + 1
    forecast = value * total / elapsed
    return min(forecast, cap) if cap is not None else forecast


COMPARE = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
           "<": lambda a, b: a < b, "==": lambda a, b: a == b}


def progress(rollup: str, figure: Figure, target: float, *, start: date, at: date, deadline: date,
             op: str = ">=") -> Progress:
    """`op` says how the figure must compare with the target ("trên 95%" is '>', "không quá 2" is '<=')."""
    current = figure.value
    percent = None if current is None or not target else 100.0 * current / target
    achieved = current is not None and COMPARE[op](current, target)
    forecast: float | None = None
    # Only a growing figure aimed at from below can be forecast; a cap ('<', '<=') or equality cannot.
    if rollup in ("sum", "share", "count") and op in (">=", ">") and current is not None and not achieved:
        forecast = linear_forecast(current, start=start, at=at, deadline=deadline,
                                   cap=100.0 if rollup == "share" else None)
    if forecast is not None:
        note = FORECAST_NOTE.format(start=start.strftime("%d/%m/%Y"), at=at.strftime("%d/%m/%Y"))
    elif achieved:
        note = "Đã đạt chỉ tiêu."
    elif at == deadline:
        note = f"Ngày xem là hạn {deadline.strftime('%d/%m/%Y')}: số liệu trên là kết quả tại hạn, không dự báo."
    elif at > deadline:
        note = f"Đã qua hạn {deadline.strftime('%d/%m/%Y')}: không dự báo."
    elif rollup == "average":
        note = "Chỉ tiêu bình quân: không dự báo (giá trị bình quân không cộng dồn theo thời gian)."
    else:
        note = "Chưa có số liệu để dự báo."
    on_track = None if forecast is None else COMPARE[op](forecast, target)
    return Progress(figure, target, percent, achieved, forecast, on_track, note)
