"""Bình Định 2023, the shipped file: "Phấn đấu đến hết ngày 31/8/2023, toàn tỉnh đạt 8.000 sáng kiến" (seed 003) is
judged on a báo cáo nhanh counted to 31/08/2023, not on the round reports (Đợt 2 covers 31/05–30/09, so its
figures are not figures to 31/8). Replayed on hand-computed sample data over the small tree, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import small_binh_dinh
from tests.submissions.conftest import vn
from thidua.db import session_scope
from thidua.models.submissions import NotOpenYet, UnknownReference
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.services.campaigns import load_campaign
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress

CODE = "bd-2023"
QUICK = "bao-cao-nhanh-sang-kien"
ROUND_REPORTS = {  # so_sang_kien per unit, Đợt 1 (to 31/05) and Đợt 2 (31/05–30/09): 5,100 + 3,400 = 8,500
    "so-ket-dot-1": {"BDH.D1": 600, "BDH.D1.1": 1500, "BDH.D1.2": 900, "BDH.D2": 400, "BDH.D2.1": 1700},
    "so-ket-dot-2": {"BDH.D1": 300, "BDH.D1.1": 1200, "BDH.D2": 200, "BDH.D2.3": 1700},
}


def _reviewer(unit: str) -> str:
    return "BDH" if unit.count(".") == 1 else unit.rsplit(".", 1)[0]


def _file(engine, obligation: str, unit: str, data: dict[str, str], sent, reviewed) -> None:  # noqa: ANN001
    with session_scope(engine) as session:
        submit_report(
            session,
            campaign_code=CODE,
            obligation_code=obligation,
            unit_code=unit,
            raw=data,
            actor=f"{unit}@example.vn",
            now=sent,
        )
    with session_scope(engine) as session:
        review_report(
            session,
            campaign_code=CODE,
            obligation_code=obligation,
            unit_code=unit,
            reviewer_code=_reviewer(unit),
            accept=True,
            actor=_reviewer(unit),
            now=reviewed,
        )


def _file_round_reports(engine) -> None:  # noqa: ANN001
    for obligation, figures in ROUND_REPORTS.items():
        month = 6 if obligation == "so-ket-dot-1" else 10  # sent before the due dates 10/06 and 10/10
        for unit, count in figures.items():
            _file(
                engine,
                obligation,
                unit,
                {"so_sang_kien": str(count), "so_doan_vien_moi": "0"},
                vn(5, month),
                vn(6, month),
            )


def _target(engine, day: date, code: str = "sang-kien-8000"):  # noqa: ANN001, ANN202
    with session_scope(engine) as session:
        return target_progress(session, campaign_code=CODE, at=day, target_code=code)[0]


@pytest.fixture
def binh_dinh(any_engine):  # noqa: ANN001, ANN201
    with Session(any_engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(any_engine, BINH_DINH_CAMPAIGN)
    return any_engine


def test_round_reports_covering_past_31_8_do_not_judge_the_8000_target(binh_dinh) -> None:  # noqa: ANN001
    """The defect: Đợt 2 reports (to 30/09) made the 31/8 target 'Đã đạt' with initiatives of September."""
    _file_round_reports(binh_dinh)
    judged = _target(binh_dinh, date(2023, 10, 16)).scope[0].progress
    # No báo cáo nhanh was filed: nothing says how many initiatives there were by 31/8.
    assert judged.figure.value == 0
    assert judged.verdict == "Chưa đạt" and judged.forecast is None


def test_the_units_directly_under_the_province_owe_the_quick_report(binh_dinh) -> None:  # noqa: ANN001
    with Session(binh_dinh) as session:
        quick = session.execute(select(ObligationDef).where(ObligationDef.code == QUICK)).scalars().one()
        owing = session.execute(
            select(Unit.code, Assignment.due_on)
            .join(Assignment, Assignment.unit_id == Unit.id)
            .where(Assignment.obligation_id == quick.id, Assignment.active.is_(True))
            .order_by(Unit.code)
        ).all()
    assert (quick.kind, quick.round_number, quick.opens_on) == ("interim_report", 2, date(2023, 8, 31))
    assert quick.definition["as_of"] == "2023-08-31"  # 31/8 belongs to Đợt 2 (31/05–30/09)
    assert [tuple(row) for row in owing] == [("BDH.D1", date(2023, 9, 8)), ("BDH.D2", date(2023, 9, 8))]
    with pytest.raises(UnknownReference, match="không phải nộp"):  # a CĐCS's initiatives are in its district's figure
        _file(binh_dinh, QUICK, "BDH.D1.1", {"so_sang_kien_luy_ke": "10"}, vn(5, 9), vn(6, 9))
    with pytest.raises(NotOpenYet):  # the running figure to 31/8 is reported from 31/8
        _file(binh_dinh, QUICK, "BDH.D1", {"so_sang_kien_luy_ke": "10"}, vn(30, 8), vn(6, 9))


def test_replay_the_8000_target_is_judged_on_the_running_figures_to_31_8(binh_dinh) -> None:  # noqa: ANN001
    """Hand-computed: LĐLĐ huyện 1 reports 4,350 initiatives to 31/8 (itself and its CĐCS), huyện 2 reports 3,420:
    7,770 < 8,000, 'Chưa đạt'. Huyện 2 corrects its figure to 3,700: 4,350 + 3,700 = 8,050 ≥ 8,000, 'Đã đạt'. The
    round reports (5,100 to 31/05, 3,400 more to 30/09) change nothing: they are not figures to 31/8."""
    _file_round_reports(binh_dinh)
    _file(binh_dinh, QUICK, "BDH.D1", {"so_sang_kien_luy_ke": "4350"}, vn(31, 8, hour=15), vn(5, 9))
    _file(binh_dinh, QUICK, "BDH.D2", {"so_sang_kien_luy_ke": "3420"}, vn(6, 9), vn(7, 9))

    judged = _target(binh_dinh, date(2023, 9, 8))  # the quick report's due date: judged
    province = judged.scope[0].progress
    assert province.figure.value == 4350 + 3420 == 7770
    assert not province.achieved and province.verdict == "Chưa đạt" and province.forecast is None
    assert province.figure.units_reported == 2 and province.figure.units_owing == 2
    districts = {row.unit_code: row.progress for row in judged.breakdown}
    assert districts["BDH.D1"].figure.value == 4350 and districts["BDH.D2"].figure.value == 3420
    assert {p.verdict for p in districts.values()} == {"Đóng góp"}
    assert _target(binh_dinh, date(2023, 12, 31)).scope[0].progress.figure.value == 7770  # still the 31/8 figure

    _file(binh_dinh, QUICK, "BDH.D2", {"so_sang_kien_luy_ke": "3700"}, vn(11, 9), vn(12, 9))
    corrected = _target(binh_dinh, date(2023, 9, 12)).scope[0].progress
    assert corrected.figure.value == 4350 + 3700 == 8050
    assert corrected.achieved and corrected.verdict == "Đã đạt"
    assert _target(binh_dinh, date(2023, 9, 11)).scope[0].progress.verdict == "Chưa đạt"  # not yet accepted


def test_replay_no_verdict_on_the_8000_target_before_the_quick_report_is_due(binh_dinh) -> None:  # noqa: ANN001
    _file_round_reports(binh_dinh)  # Đợt 1 figures are in hand since 10/06: still no figure to 31/8
    _file(binh_dinh, QUICK, "BDH.D1", {"so_sang_kien_luy_ke": "4350"}, vn(31, 8, hour=15), vn(5, 9))
    for day in (date(2023, 6, 30), date(2023, 8, 31), date(2023, 9, 5), date(2023, 9, 7)):
        progress = _target(binh_dinh, day).scope[0].progress
        assert progress.verdict == "Chưa đến hạn báo cáo", day
        assert "08/09/2023" in progress.note and progress.forecast is None
    assert _target(binh_dinh, date(2023, 8, 31)).scope[0].progress.figure.value == 0  # not accepted yet
    assert _target(binh_dinh, date(2023, 9, 7)).scope[0].progress.figure.value == 4350  # huyện 2 not in yet
    assert _target(binh_dinh, date(2023, 9, 8)).scope[0].progress.verdict == "Chưa đạt"  # due: judged
