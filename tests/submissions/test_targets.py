"""Target roll-ups and the linear forecast (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from thidua.models.spec.campaign import TargetCondition
from thidua.models.targets import Report, condition_holds, linear_forecast, progress, rollup_figure

pytestmark = pytest.mark.domain  # pure rules: `make test-fast`

START, DEADLINE = date(2023, 2, 15), date(2023, 8, 31)


@pytest.mark.parametrize(
    "op, limit, value, holds",
    [
        (">=", 5, 5, True),
        (">=", 5, "4", False),
        (">", 5, 6, True),
        ("==", 3, 3.0, True),
        ("<=", 2, 3, False),
        ("<", 2, 1, True),
        ("==", "Có", " có ", True),
        ("in", ["Hoàn thành tốt nhiệm vụ"], "hoàn thành tốt nhiệm vụ", True),
        ("in", ["Hoàn thành tốt nhiệm vụ"], "Hoàn thành nhiệm vụ", False),
        ("truthy", None, "  ", False),
        ("truthy", None, "Công trình", True),
        ("truthy", None, False, False),
        ("truthy", None, 2, True),
        (">=", 1, None, False),
        ("truthy", None, None, False),
    ],
)
def test_conditions(op, limit, value, holds):
    assert condition_holds(TargetCondition(op=op, value=limit), value) is holds


def test_sum_counts_every_report_and_ignores_empty_values():
    reports = [Report(1, 10), Report(1, 5), Report(2, None), Report(3, 2.5)]
    figure = rollup_figure("sum", None, reports, owing_units=[1, 2, 3, 4])
    assert (figure.value, figure.reports, figure.units_reported, figure.units_owing) == (17.5, 3, 3, 4)


def test_average_of_given_values_or_none():
    assert rollup_figure("average", None, [Report(1, 4), Report(2, 8), Report(3, None)], [1, 2, 3]).value == 6
    assert rollup_figure("average", None, [], [1]).value is None


def test_share_is_of_owing_units_meeting_the_condition():
    condition = TargetCondition(op=">=", value=1)
    reports = [Report(1, 0), Report(1, 3), Report(2, 1), Report(9, 5)]  # unit 9 does not owe: ignored
    figure = rollup_figure("share", condition, reports, owing_units=[1, 2, 3, 4])
    assert (figure.value, figure.units_meeting) == (50.0, 2)
    assert rollup_figure("share", condition, [], []).value is None


def test_linear_forecast_counts_both_ends():
    # 10 days in out of 20 inclusive: double.
    assert linear_forecast(30, start=date(2023, 1, 1), at=date(2023, 1, 10), deadline=date(2023, 1, 20)) == 60
    assert linear_forecast(60, start=date(2023, 1, 1), at=date(2023, 1, 10), deadline=date(2023, 1, 20), cap=100) == 100
    assert linear_forecast(5, start=START, at=DEADLINE, deadline=DEADLINE) is None
    assert linear_forecast(5, start=START, at=date(2023, 1, 1), deadline=DEADLINE) is None


def test_progress_verdicts_and_notes():
    at = date(2023, 5, 31)  # 106 of 198 days
    behind = progress(
        "sum", rollup_figure("sum", None, [Report(1, 3000)], [1]), 8000, start=START, at=at, deadline=DEADLINE
    )
    assert behind.forecast == pytest.approx(3000 * 198 / 106)
    assert behind.verdict == "Chậm tiến độ" and behind.percent_of_target == pytest.approx(37.5)
    assert behind.note == (
        "Dự báo tuyến tính theo nhịp độ bình quân từ ngày bắt đầu chiến dịch (15/02/2023) đến ngày xem (31/05/2023)."
    )
    ahead = progress(
        "sum", rollup_figure("sum", None, [Report(1, 5000)], [1]), 8000, start=START, at=at, deadline=DEADLINE
    )
    assert ahead.verdict == "Đúng tiến độ" and ahead.on_track
    done = progress(
        "sum", rollup_figure("sum", None, [Report(1, 8000)], [1]), 8000, start=START, at=at, deadline=DEADLINE
    )
    assert done.achieved and done.forecast is None and done.verdict == "Đã đạt"
    late = progress(
        "sum",
        rollup_figure("sum", None, [Report(1, 10)], [1]),
        8000,
        start=START,
        at=date(2023, 9, 1),
        deadline=DEADLINE,
    )
    assert late.forecast is None and late.verdict == "Chưa đạt" and "Đã qua hạn 31/08/2023" in late.note
    average = progress(
        "average", rollup_figure("average", None, [Report(1, 2)], [1]), 5, start=START, at=at, deadline=DEADLINE
    )
    assert average.forecast is None and "không dự báo" in average.note
