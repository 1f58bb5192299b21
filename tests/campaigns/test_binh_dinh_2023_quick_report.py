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
