"""Target progress (pure): roll reported values up into a figure, compare it with the target, and
forecast the figure at the deadline.

Reports arrive in steps, one batch per period at each deadline, so the forecast is made from the reported
periods: the pace of the data in hand (it covers the campaign's start to the end of the latest period whose report
is due, `data_through`), carried on to the deadline (or to the end of the last period reported before it). It
does not change between two report deadlines. Before any source report is due there is no verdict (a figure
built from a few early reports is not a trend). A row with no target of its own (a district's part of a
province's total, when no share was assigned to it) is a contribution: shown, never judged. Averages are not
forecast (an average does not accumulate), shares are capped at 100 %. Every result carries a note saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable, Sequence

from thidua.models.forms import fold
from thidua.models.spec.campaign import TargetCondition

FORECAST_NOTE = "Dự báo tuyến tính theo nhịp độ bình quân từ ngày bắt đầu chiến dịch ({start}) đến ngày xem ({at})."
PERIODS_FORECAST_NOTE = (
    "Dự báo tuyến tính theo các kỳ đã báo cáo: số liệu từ {start} đến {through}, giữ nhịp độ đó đến {until}."
)
NOT_DUE_NOTE = "Chưa đến hạn báo cáo số liệu của chỉ tiêu (hạn đầu tiên {first_due}): chưa đánh giá, chưa dự báo."
CONTRIBUTION_NOTE = "Phần đóng góp vào chỉ tiêu chung (đơn vị không được giao chỉ tiêu riêng): không đánh giá riêng."


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
    judged: bool = True  # False: a contribution to a larger total, with no target of its own
    data_due: bool = True  # False: none of the target's source reports is due yet
    share_of_total: float | None = None  # contributions: % of the whole figure this row makes

    @property
    def verdict(self) -> str:
        if not self.judged:
            return "Đóng góp"
        if self.achieved:
            return "Đã đạt"
        if not self.data_due:
            return "Chưa đến hạn báo cáo"
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


def rollup_figure(
    rollup: str,
    condition: TargetCondition | None,
    reports: Sequence[Report],
    owing_units: Iterable[int],
    periods_due: dict[int, set[int]] | None = None,
) -> Figure:
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
        return Figure(
            100.0 * len(meeting) / len(owing) if owing else None,
            given,
            len({r.unit_id for r in reports}),
            len(owing),
            len(meeting),
        )
    reported = {r.unit_id for r in reports}
    numbers = [n for n in (_number(r.value) for r in reports) if n is not None]
    if rollup == "sum":
        return Figure(float(sum(numbers)), len(numbers), len(reported), len(owing))
    if rollup == "count":  # reports meeting the condition (every report holding a value without one)
        counted = [r for r in reports if (condition_holds(condition, r.value) if condition else r.value is not None)]
        return Figure(float(len(counted)), len(counted), len(reported), len(owing), len({r.unit_id for r in counted}))
    if rollup == "ratio":  # Σ values / Σ bases over the reports holding both, in %
        pairs = [
            (n, b) for n, b in ((_number(r.value), _number(r.base)) for r in reports) if n is not None and b is not None
        ]
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


COMPARE = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}


_UNSET: Any = object()


def periods_forecast(value: float, *, start: date, through: date, until: date, cap: float | None = None) -> float:
    """The value at `until` if the pace of the data covering start..through goes on (both ends counted); the
    value itself when no later period is to come."""
    if until <= through:
        return value
    forecast = value * ((until - start).days + 1) / ((through - start).days + 1)
    return min(forecast, cap) if cap is not None else forecast


def progress(
    rollup: str,
    figure: Figure,
    target: float,
    *,
    start: date,
    at: date,
    deadline: date,
    op: str = ">=",
    judged: bool = True,
    data_through: date | None = _UNSET,
    first_due: date | None = None,
    last_through: date | None = None,
    whole: float | None = None,
) -> Progress:
    """`op` says how the figure must compare with the target ("trên 95%" is '>', "không quá 2" is '<=').

    judged=False: a contribution (no verdict, no forecast; `whole` gives its share of the total).
    data_through: the end of the latest period whose report is due by `at` (None: no source report is due yet,
    so no verdict before `first_due`); left out, the forecast is the plain pace from `start` to `at`.
    last_through: the end of the last period the source reports cover (the forecast stops there)."""
    current = figure.value
    if not judged:
        share = None if current is None or not whole else 100.0 * current / whole
        return Progress(figure, target, None, False, None, None, CONTRIBUTION_NOTE, judged=False, share_of_total=share)
    percent = None if current is None or not target else 100.0 * current / target
    achieved = current is not None and COMPARE[op](current, target)
    if data_through is None and not achieved:
        note = NOT_DUE_NOTE.format(first_due=first_due.strftime("%d/%m/%Y") if first_due else "—")
        return Progress(figure, target, percent, False, None, None, note, data_due=False)
    forecast: float | None = None
    growing = rollup in ("sum", "share", "count") and op in (">=", ">") and current is not None and not achieved
    # Only a growing figure aimed at from below can be forecast; a cap ('<', '<=') or equality cannot.
    if growing and data_through is not _UNSET and data_through is not None and current is not None and at < deadline:
        until = min(deadline, last_through or deadline)
        forecast = periods_forecast(
            current,
            start=start,
            through=max(data_through, start),
            until=until,
            cap=100.0 if rollup == "share" else None,
        )
        note = PERIODS_FORECAST_NOTE.format(
            start=start.strftime("%d/%m/%Y"),
            through=data_through.strftime("%d/%m/%Y"),
            until=until.strftime("%d/%m/%Y"),
        )
    elif growing and data_through is _UNSET and current is not None:
        forecast = linear_forecast(
            current, start=start, at=at, deadline=deadline, cap=100.0 if rollup == "share" else None
        )
    if forecast is not None:
        if data_through is _UNSET:
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
