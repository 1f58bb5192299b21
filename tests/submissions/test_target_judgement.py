"""Targets judged as the plan means them (issue 11 point 9), on SQLite and PostgreSQL:
- a district row of a province target (8,000 initiatives) is the district's contribution, not a verdict against the
  whole province's 8,000 (a district with an assigned quota is judged against its quota: tests/campaigns/test_targets_v2);
- no verdict before any of the target's source reports is due (no "Chậm tiến độ" in June for a report due 10/06);
- the forecast is made from the reported periods (data covering 15/02–31/05 once round 1's reports are due), so it
  is the same on every day between two report deadlines instead of swinging with the day it is looked at.
On the v1 Bình Định file, whose 31/8 target sums the round reports (the shipped file now reads a báo cáo nhanh for
it: tests/campaigns/test_binh_dinh_2023_quick_report.py)."""

from __future__ import annotations

from datetime import date

import pytest

from tests.submissions.conftest import CODE, V1_BINH_DINH_CAMPAIGN, load_binh_dinh, vn
from thidua.db import session_scope
from thidua.models.targets import Figure, progress
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress

START, DEADLINE = date(2023, 2, 15), date(2023, 8, 31)
# round 1 reports: unit -> initiatives in the round
ROUND_1 = {
    "BDH.D1": 40,
    "BDH.D1.1": 300,
    "BDH.D1.2": 250,
    "BDH.D1.3": 10,
    "BDH.D2": 20,
    "BDH.D2.1": 900,
    "BDH.D2.2": 0,
    "BDH.D2.3": 480,
}


@pytest.fixture
def reported(any_engine):  # noqa: ANN001, ANN201
    """Round 1 (15/02–31/05, due 10/06): BDH.D2.1 sends early (02/06), the others on 08–09/06, all accepted."""
    load_binh_dinh(any_engine, campaign=V1_BINH_DINH_CAMPAIGN)
    for unit, count in ROUND_1.items():
        when = vn(2, 6, 2023, 9) if unit == "BDH.D2.1" else vn(8, 6, 2023, 9)
        reviewer = "BDH" if unit.count(".") == 1 else unit.rsplit(".", 1)[0]
        with session_scope(any_engine) as session:
            submit_report(
                session,
                campaign_code=CODE,
                obligation_code="so-ket-dot-1",
                unit_code=unit,
                raw={"so_sang_kien": str(count), "so_doan_vien_moi": "1"},
                actor=f"{unit}@example.vn",
                now=when,
            )
        with session_scope(any_engine) as session:
            review_report(
                session,
                campaign_code=CODE,
                obligation_code="so-ket-dot-1",
                unit_code=unit,
                reviewer_code=reviewer,
                accept=True,
                actor=reviewer,
                now=when.replace(hour=15),
            )
    return any_engine


def _initiatives(engine, day: date):  # noqa: ANN001, ANN202
    with session_scope(engine) as session:
        return target_progress(session, campaign_code=CODE, at=day, target_code="sang-kien-8000")[0]


def test_no_verdict_before_the_source_report_is_due(reported) -> None:  # noqa: ANN001
    early = _initiatives(reported, date(2023, 6, 5))  # round 1's report is due 10/06
    province = early.scope[0].progress
    assert province.figure.value == 900  # what was sent early is shown
    assert not province.data_due and province.forecast is None and province.on_track is None
    assert province.verdict == "Chưa đến hạn báo cáo" and "10/06/2023" in province.note
    assert all(row.progress.verdict != "Chậm tiến độ" for row in early.scope + early.breakdown)


def test_the_forecast_comes_from_the_reported_periods(reported) -> None:  # noqa: ANN001
    total = sum(ROUND_1.values())
    expected = total * ((DEADLINE - START).days + 1) / ((date(2023, 5, 31) - START).days + 1)
    days = (date(2023, 6, 11), date(2023, 6, 17), date(2023, 8, 5))
    forecasts = []
    for day in days:  # between round 1's due date and round 2's, the data and so the forecast do not change
        province = _initiatives(reported, day).scope[0].progress
        assert province.data_due and province.figure.value == total
        forecasts.append(province.forecast)
        assert "31/05/2023" in province.note and "đã báo cáo" in province.note, province.note
    assert forecasts == [pytest.approx(expected)] * len(days)
    assert _initiatives(reported, date(2023, 6, 17)).scope[0].progress.verdict == "Chậm tiến độ"  # 2,000 → ~3,500


def test_a_district_row_without_an_assigned_share_is_a_contribution(reported) -> None:  # noqa: ANN001
    report = _initiatives(reported, date(2023, 6, 17))
    province = report.scope[0].progress
    by_code = {row.unit_code: row.progress for row in report.breakdown}
    d1 = sum(v for u, v in ROUND_1.items() if u.startswith("BDH.D1"))
    d2 = sum(v for u, v in ROUND_1.items() if u.startswith("BDH.D2"))
    assert by_code["BDH.D1"].figure.value == d1 and by_code["BDH.D2"].figure.value == d2
    for code, value in (("BDH.D1", d1), ("BDH.D2", d2)):
        row = by_code[code]
        assert not row.judged and row.verdict == "Đóng góp"
        assert row.percent_of_target is None and row.forecast is None and row.on_track is None  # not 8 % of 8,000
        assert row.share_of_total == pytest.approx(100 * value / province.figure.value)
    assert province.judged and province.verdict == "Chậm tiến độ"


def test_share_targets_still_judge_each_district_by_the_same_rate(reported) -> None:  # noqa: ANN001
    """ "Every CĐCS has a new work" (100 %) applies to each district as it does to the province."""
    with session_scope(reported) as session:
        share = target_progress(session, campaign_code=CODE, at=date(2023, 6, 17), target_code="cong-trinh-moi")[0]
    assert all(row.progress.judged and row.progress.target == 100 for row in share.breakdown)


def test_pure_progress_contribution_and_not_due() -> None:
    figure = Figure(500.0, 3, 3, 4)
    contribution = progress("sum", figure, 8000, start=START, at=date(2023, 6, 17), deadline=DEADLINE, judged=False)
    assert (
        contribution.verdict == "Đóng góp" and contribution.forecast is None and contribution.percent_of_target is None
    )
    waiting = progress(
        "sum",
        figure,
        8000,
        start=START,
        at=date(2023, 6, 5),
        deadline=DEADLINE,
        data_through=None,
        first_due=date(2023, 6, 10),
    )
    assert waiting.verdict == "Chưa đến hạn báo cáo" and waiting.forecast is None
    done = progress(
        "sum",
        Figure(9000.0, 3, 3, 4),
        8000,
        start=START,
        at=date(2023, 6, 5),
        deadline=DEADLINE,
        data_through=None,
        first_due=date(2023, 6, 10),
    )
    assert done.verdict == "Đã đạt"  # reached early: nothing to wait for
    stepwise = progress(
        "sum", figure, 8000, start=START, at=date(2023, 8, 5), deadline=DEADLINE, data_through=date(2023, 5, 31)
    )
    assert stepwise.forecast == pytest.approx(500 * 198 / 106)
