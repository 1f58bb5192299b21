"""A plan's date inside a round (issue 12): "8,000 initiatives by 31/8" when reports cover 31/5–30/9. A báo cáo
nhanh (`kind: interim_report`, `as_of`) reports the running figure to that day, with its own due date; the target
is judged on it at 31/8, not before the quick report is due, and its figure belongs to the round of its day by
the campaign's boundary rule. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import small_binh_dinh
from tests.submissions.conftest import vn
from thidua.db import session_scope
from thidua.models.tables import ObligationDef
from thidua.services.campaigns import load_campaign
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress

INTERIM = """  - code: bao-cao-nhanh-sang-kien
    kind: interim_report
    title: Báo cáo nhanh số sáng kiến đến {as_of}
    levels: [cap_tren_truc_tiep, cdcs]
    as_of: {as_of}
    due: {due}
    fields:
      - {{code: so_sang_kien_luy_ke, label: Số sáng kiến lũy kế, type: integer, required: true, min: 0}}

targets:
  - code: sang-kien-den-ngay-chot
    title: Đến hết ngày chốt toàn tỉnh đạt 2.000 sáng kiến
    rollup: sum
    value: 2000
    unit: sáng kiến
    deadline: {as_of}
    source: {{obligations: [bao-cao-nhanh-sang-kien], field: so_sang_kien_luy_ke}}
    breakdown_level: cap_tren_truc_tiep
"""
V1_CAMPAIGN = Path(__file__).parent / "v1" / "binh_dinh_2023_v1.yaml"
RUNNING = {
    "BDH.D1": 40,
    "BDH.D1.1": 420,
    "BDH.D1.2": 300,
    "BDH.D1.3": 15,
    "BDH.D2": 25,
    "BDH.D2.1": 1100,
    "BDH.D2.2": 0,
    "BDH.D2.3": 600,
}


def campaign_with_interim(
    tmp_path: Path, *, as_of: str = "31/08/2023", due: str = "05/09/2023", rule: str = "earlier_round"
) -> Path:
    config = tmp_path / "config"  # the real config files, beside one edited campaign file
    (config / "campaigns").mkdir(parents=True, exist_ok=True)
    for entry in BINH_DINH_CAMPAIGN.parent.parent.iterdir():
        if entry.name != "campaigns" and not (config / entry.name).exists():
            (config / entry.name).symlink_to(entry)
    text = V1_CAMPAIGN.read_text(encoding="utf-8")  # the v1 file: the shipped one now has its own quick report
    text = text.replace("\ntargets:\n", "\n" + INTERIM.format(as_of=as_of, due=due), 1)
    text = text.replace("\nround_boundary: earlier_round", f"\nround_boundary: {rule}", 1)
    path = config / "campaigns" / "binh_dinh_2023_bao_cao_nhanh.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def interim_world(any_engine, tmp_path: Path):  # noqa: ANN001, ANN201
    with Session(any_engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(any_engine, campaign_with_interim(tmp_path))
    for unit, count in RUNNING.items():
        reviewer = "BDH" if unit.count(".") == 1 else unit.rsplit(".", 1)[0]
        with session_scope(any_engine) as session:
            submit_report(
                session,
                campaign_code="bd-2023",
                obligation_code="bao-cao-nhanh-sang-kien",
                unit_code=unit,
                raw={"so_sang_kien_luy_ke": str(count)},
                actor=f"{unit}@example.vn",
                now=vn(2, 9, 2023),
            )
        with session_scope(any_engine) as session:
            review_report(
                session,
                campaign_code="bd-2023",
                obligation_code="bao-cao-nhanh-sang-kien",
                unit_code=unit,
                reviewer_code=reviewer,
                accept=True,
                actor=reviewer,
                now=vn(3, 9, 2023),
            )
    return any_engine


def _target(engine, day: date):  # noqa: ANN001, ANN202
    with session_scope(engine) as session:
        return target_progress(session, campaign_code="bd-2023", at=day, target_code="sang-kien-den-ngay-chot")[0]


def test_the_target_is_judged_on_the_running_figure_of_its_day(interim_world) -> None:  # noqa: ANN001
    total = sum(RUNNING.values())  # 2,500 ≥ 2,000
    after = _target(interim_world, date(2023, 9, 6))  # the quick report is due 05/09
    province = after.scope[0].progress
    assert province.figure.value == total and province.achieved and province.verdict == "Đã đạt"
    districts = {row.unit_code: row.progress for row in after.breakdown}
    assert districts["BDH.D1"].figure.value == 40 + 420 + 300 + 15 and districts["BDH.D1"].verdict == "Đóng góp"


def test_no_verdict_before_the_quick_report_is_due_and_no_forecast_past_its_day(interim_world) -> None:  # noqa: ANN001
    before = _target(interim_world, date(2023, 8, 20)).scope[0].progress
    assert before.figure.value == 0 and before.verdict == "Chưa đến hạn báo cáo"  # not "Chậm tiến độ"
    early = _target(interim_world, date(2023, 9, 3)).scope[0].progress
    assert early.verdict == "Đã đạt"  # sent (and accepted) before the due date and already enough: said at once
    with session_scope(interim_world) as session:  # lower what was reported: the target is no longer met
        submit_report(
            session,
            campaign_code="bd-2023",
            obligation_code="bao-cao-nhanh-sang-kien",
            unit_code="BDH.D2.1",
            raw={"so_sang_kien_luy_ke": "100"},
            actor="BDH.D2.1@example.vn",
            now=vn(4, 9, 2023),
        )
    with session_scope(interim_world) as session:
        review_report(
            session,
            campaign_code="bd-2023",
            obligation_code="bao-cao-nhanh-sang-kien",
            unit_code="BDH.D2.1",
            reviewer_code="BDH.D2",
            accept=True,
            actor="BDH.D2",
            now=vn(4, 9, 2023, 10),
        )
    waiting = _target(interim_world, date(2023, 9, 4)).scope[0].progress
    assert waiting.figure.value == 1500 and waiting.verdict == "Chưa đến hạn báo cáo" and "05/09/2023" in waiting.note
    judged = _target(interim_world, date(2023, 9, 6)).scope[0].progress
    assert judged.verdict == "Chưa đạt" and judged.forecast is None  # 31/08 has passed: the figure is the result


@pytest.mark.parametrize(
    ("as_of", "due", "rule", "round_number"),
    [
        ("31/08/2023", "05/09/2023", "earlier_round", 2),
        ("30/09/2023", "05/10/2023", "earlier_round", 2),  # the shared day 30/09 belongs to Đợt 2 …
        ("30/09/2023", "05/10/2023", "later_round", 3),  # … or to Đợt 3, as the campaign declares
        ("31/05/2023", "05/06/2023", "later_round", 2),
    ],
)
def test_the_quick_figure_belongs_to_the_round_of_its_day(
    engine, tmp_path: Path, as_of: str, due: str, rule: str, round_number: int
) -> None:
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(engine, campaign_with_interim(tmp_path, as_of=as_of, due=due, rule=rule))
    with Session(engine) as session:
        found = session.execute(
            select(ObligationDef.round_number, ObligationDef.due_on).where(
                ObligationDef.code == "bao-cao-nhanh-sang-kien"
            )
        ).one()
    assert found.round_number == round_number
