"""Targets v2: ratio of sums (by a field of the same report or a unit attribute), count, comparison operators
(strict '>', caps '<='), and the superior's appraisal as the source instead of self-assessment."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session

from thidua.models.spec.campaign import TargetCondition
from thidua.models.targets import Figure, Report, progress, rollup_figure
from thidua.models.tables import Unit
from thidua.services.campaigns import load_campaign
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress
from tests.factories import small_binh_dinh

FILE = Path(__file__).parent / "v2" / "targets.yaml"
GOOD, VERY_GOOD, DONE, FAILED = (
    "Hoàn thành tốt nhiệm vụ",
    "Hoàn thành xuất sắc nhiệm vụ",
    "Hoàn thành nhiệm vụ",
    "Không hoàn thành nhiệm vụ",
)


def test_ratio_is_a_ratio_of_sums_not_a_mean_of_ratios():
    reports = [Report(1, 9, base=10), Report(2, 100, base=100), Report(3, None, base=50)]
    figure = rollup_figure("ratio", None, reports, [1, 2, 3])
    assert figure.value == pytest.approx(100 * 109 / 110)  # the mean of 90 % and 100 % would be 95 %
    assert rollup_figure("ratio", None, [Report(1, 5, base=0)], [1]).value is None


def test_count_and_operators():
    failed = TargetCondition(op="in", value=[FAILED])
    figure = rollup_figure("count", failed, [Report(1, FAILED), Report(2, GOOD)], [1, 2])
    assert figure.value == 1
    day = dict(start=date(2023, 1, 2), at=date(2023, 6, 1), deadline=date(2023, 12, 31))
    assert not progress("count", figure, 0, op="<=", **day).achieved
    assert progress("count", Figure(0.0, 0, 0, 2), 0, op="<=", **day).achieved
    exactly = Figure(95.0, 2, 2, 2)
    assert progress("ratio", exactly, 95, op=">=", **day).achieved
    assert not progress("ratio", exactly, 95, op=">", **day).achieved  # "trên 95%" is strict


@pytest.fixture
def loaded(engine):
    with Session(engine) as session:
        small_binh_dinh(session)
        for code, members in (("BDH.D1.1", 40), ("BDH.D1.2", 60), ("BDH.D1.3", 100)):
            session.execute(update(Unit).where(Unit.code == code).values(attributes={"so_doan_vien": members}))
        session.commit()
    load_campaign(engine, FILE)
    return engine


def test_targets_on_sample_data(loaded):
    # (unit, informed, members reported, self rating, appraised rating or None when not yet reviewed)
    sample = [
        ("BDH.D1.1", 38, 40, VERY_GOOD, GOOD),
        ("BDH.D1.2", 57, 60, GOOD, DONE),
        ("BDH.D1.3", 96, 100, GOOD, GOOD),
        ("BDH.D2.1", 20, 20, GOOD, FAILED),
        ("BDH.D2.2", 10, 10, GOOD, None),
    ]
    with Session(loaded) as session:
        for unit, informed, members, rating, appraised in sample:
            submit_report(
                session,
                campaign_code="chi-tieu-v2",
                obligation_code="tong-ket",
                unit_code=unit,
                actor=unit,
                raw={"so_dv_hoc_tap": informed, "so_doan_vien": members, "xep_loai_de_nghi": rating},
                now=datetime(2023, 11, 1, 3, tzinfo=timezone.utc),
            )
            if appraised:
                review_report(
                    session,
                    campaign_code="chi-tieu-v2",
                    obligation_code="tong-ket",
                    unit_code=unit,
                    reviewer_code=unit.rsplit(".", 1)[0],
                    accept=True,
                    actor="cap-tren",
                    appraised_rating=appraised,
                    now=datetime(2023, 11, 10, 3, tzinfo=timezone.utc),
                )
        session.commit()
        t = {
            r.code: r.scope[0].progress
            for r in target_progress(session, campaign_code="chi-tieu-v2", at=date(2023, 12, 31))
        }
    # accepted reports only (final reports are reviewed): D1.1, D1.2, D1.3, D2.1
    # (38 + 57 + 96 + 20) / (40 + 60 + 100 + 20) = 211 / 220 = 95.909 % > 95 %
    assert t["hoc-tap-tren-95"].figure.value == pytest.approx(100 * 211 / 220)
    assert t["hoc-tap-tren-95"].achieved
    # by the unit list: only D1.x carry 'so_doan_vien' → (38 + 57 + 96) / (40 + 60 + 100) = 95.5 %
    assert t["hoc-tap-theo-danh-sach"].figure.value == pytest.approx(100 * 191 / 200)
    # appraisal: GOOD for D1.1 and D1.3 → 2 of the 6 owing CĐCS; self-assessment: 4 of 6
    assert (t["tot-tro-len-tham-dinh"].figure.units_meeting, t["tot-tro-len-tham-dinh"].figure.units_owing) == (2, 6)
    assert t["tot-tro-len-tu-danh-gia"].figure.units_meeting == 4
    cap = t["khong-co-cdcs-khong-hoan-thanh"]
    assert cap.figure.value == 1 and not cap.achieved and cap.forecast is None
