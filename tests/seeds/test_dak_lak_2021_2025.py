"""Đắk Lắk 2021–2025 (seed 001) replayed as one programme: yearly and half-yearly instances over five years,
targets judged each year (appraisal, an explicit denominator of eligible CĐCS, a yearly sum) and a target with
its 2025 deadline on the 2025 figures — each value computed by hand."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.tables import Assignment, Campaign, ObligationDef
from thidua.services.campaigns import load_campaign, read_campaign_file
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR

CAMPAIGN = CONFIG_DIR / "campaigns" / "dak_lak_2021_2025.yaml"
CODE = "dl-2021-2025"
HTXS, HTT, HTNV = "Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ", "Hoàn thành nhiệm vụ"


@pytest.fixture
def loaded(engine):
    load_levels(engine)
    import_units(engine, CONFIG_DIR / "units" / "dak_lak.yaml")
    assert load_campaign(engine, CAMPAIGN).warnings == []
    return engine


def test_assumptions_are_marked():
    text = CAMPAIGN.read_text(encoding="utf-8")
    assert sum("GIẢ ĐỊNH" in line for line in text.splitlines()) >= 6
    assert len(read_campaign_file(CAMPAIGN)[0].assumption_notes) == 4


def test_one_programme_with_yearly_and_half_yearly_instances(loaded):
    with Session(loaded) as session:
        campaign = session.execute(select(Campaign)).scalar_one()
        due = dict(session.execute(select(ObligationDef.code, ObligationDef.due_on)).all())
        owed = dict(
            session.execute(
                select(ObligationDef.series, func.count(Assignment.id))
                .join(Assignment, Assignment.obligation_id == ObligationDef.id)
                .group_by(ObligationDef.series)
            ).all()
        )
    assert (campaign.starts_on, campaign.ends_on) == (date(2021, 12, 1), date(2025, 12, 31))
    assert [due[f"bao-cao-nam@{y}"] for y in range(2022, 2026)] == [
        date(2022, 11, 15),
        date(2023, 11, 15),
        date(2024, 11, 15),
        date(2025, 11, 17),
    ]  # 15/11/2025 is a Saturday
    half_years = sorted(c for c in due if c.startswith("bao-cao-6-thang@"))
    assert len(half_years) == 8 and due["bao-cao-6-thang@2022-h1"] == date(2022, 7, 11)
    assert due["bao-cao-6-thang@2025-h2"] == date(2026, 1, 12)  # 10/01/2026 is a Saturday
    assert owed == {"bao-cao-nam": 4 * (3 + 6), "bao-cao-6-thang": 8 * 3}


PARENT = {"DLK.BMT": "DLK", "DLK.BHO": "DLK", "DLK.GDU": "DLK"}
# year -> unit -> (fields, appraised rating)
SAMPLE = {
    2024: {
        "DLK.BMT": ({"so_nha_mai_am": 30, "kiem_tra_tai_chinh": True}, HTXS),
        "DLK.BHO": ({"so_nha_mai_am": 20, "kiem_tra_tai_chinh": True}, HTT),
        "DLK.GDU": ({"so_nha_mai_am": 10, "kiem_tra_tai_chinh": True}, HTT),
        "DLK.BMT.01": ({"so_doan_vien": 480, "co_ban_nu_cong": True}, HTT),
        "DLK.BMT.02": ({"so_doan_vien": 1100, "co_ban_nu_cong": False}, HTXS),
        "DLK.BHO.01": ({"so_doan_vien": 75, "co_ban_nu_cong": False}, HTNV),
        "DLK.BHO.02": ({"so_doan_vien": 30, "co_ban_nu_cong": False}, HTT),
        "DLK.GDU.01": ({"so_doan_vien": 85, "co_ban_nu_cong": True}, HTT),
        "DLK.GDU.02": ({"so_doan_vien": 40, "co_ban_nu_cong": False}, HTT),
    },
    2025: {
        "DLK.BMT": ({"so_nha_mai_am": 40, "kiem_tra_tai_chinh": True}, HTXS),
        "DLK.BHO": ({"so_nha_mai_am": 25, "kiem_tra_tai_chinh": True}, HTT),
        "DLK.GDU": ({"so_nha_mai_am": 20, "kiem_tra_tai_chinh": False}, HTNV),
        "DLK.BMT.01": ({"so_doan_vien": 500, "co_ban_nu_cong": True}, HTT),
        "DLK.BMT.02": ({"so_doan_vien": 1200, "co_ban_nu_cong": True}, HTT),
        "DLK.BHO.01": ({"so_doan_vien": 80, "co_ban_nu_cong": True}, HTT),  # not eligible: not in the denominator
        "DLK.BHO.02": ({"so_doan_vien": 30, "co_ban_nu_cong": False}, HTT),
        "DLK.GDU.01": ({"so_doan_vien": 90, "co_ban_nu_cong": True}, HTT),
        "DLK.GDU.02": ({"so_doan_vien": 40, "co_ban_nu_cong": False}, HTT),
    },
}


def test_targets_each_year_and_at_the_end(loaded):
    with Session(loaded) as session:
        for year, units in SAMPLE.items():
            for unit, (fields, appraised) in units.items():
                code = f"bao-cao-nam@{year}"
                submit_report(
                    session,
                    campaign_code=CODE,
                    obligation_code=code,
                    unit_code=unit,
                    actor=unit,
                    raw={**fields, "xep_loai_de_nghi": HTT},
                    now=datetime(year, 11, 1, 3, tzinfo=timezone.utc),
                )
                review_report(
                    session,
                    campaign_code=CODE,
                    obligation_code=code,
                    unit_code=unit,
                    reviewer_code=PARENT.get(unit, unit.rsplit(".", 1)[0]),
                    accept=True,
                    actor="cap-tren",
                    appraised_rating=appraised,
                    now=datetime(year, 11, 5, 3, tzinfo=timezone.utc),
                )
        session.commit()
        t = {r.code: r for r in target_progress(session, campaign_code=CODE, at=date(2025, 12, 31))}

    members = t["doan-vien-80000"]
    assert members.scope[0].progress.figure.value == 500 + 1200 + 80 + 30 + 90 + 40  # the 2025 figures only: 1,940
    assert {r.unit_code: r.progress.figure.value for r in members.breakdown} == {
        "DLK.BMT": 1700,
        "DLK.BHO": 110,
        "DLK.GDU": 130,
    }

    def per_year(code):
        return {r.unit_code: (r.progress.figure.units_meeting, r.progress.figure.units_owing) for r in t[code].groups}

    # CĐCS rated good or better by their superior: 2024 five of six (BHO.01 lower), 2025 all six
    assert per_year("cdcs-tot-85") == {"2022": (0, 6), "2023": (0, 6), "2024": (5, 6), "2025": (6, 6)}
    assert t["cdcs-tot-85"].scope[0].progress.achieved  # the latest year due (2025): 100 % ≥ 85 %
    assert {r.unit_code: r.progress.achieved for r in t["cdcs-tot-85"].groups}["2024"] is False  # 83.3 % < 85 %
    assert per_year("cap-tren-tot-90")["2025"] == (2, 3)
    # eligible CĐCS (BMT.01, BMT.02, BHO.02, GDU.01): 2024 two with a committee, 2025 three
    assert per_year("ban-nu-cong")["2024"] == (2, 4) and per_year("ban-nu-cong")["2025"] == (3, 4)
    houses = {r.unit_code: (r.progress.figure.value, r.progress.achieved) for r in t["mai-am-80"].groups}
    assert houses["2024"] == (60, False) and houses["2025"] == (85, True)
    assert per_year("kiem-tra-tai-chinh")["2025"] == (2, 3) and per_year("kiem-tra-tai-chinh")["2024"] == (3, 3)


def test_cli_shows_the_programme_as_one_thing(settings, monkeypatch):
    from typer.testing import CliRunner

    from thidua.cli.main import app
    from thidua.settings import get_settings

    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        for args in (
            ["units", "levels"],
            ["units", "import", CONFIG_DIR / "units" / "dak_lak.yaml"],
            ["campaign", "load", CAMPAIGN],
        ):
            result = runner.invoke(app, [str(a) for a in args])
            assert result.exit_code == 0, result.output
        shown = runner.invoke(app, ["campaign", "show", CODE], terminal_width=200)
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert "Chương trình nhiều năm 2021–2025" in shown.output
    lines = [line for line in shown.output.splitlines() if line.strip().startswith(("│ 2025", "┃ 2025", "2025"))]
    assert any(" 3 " in line and " 5 " in line for line in lines), shown.output  # 2025: 3 due dates; 5 yearly targets
