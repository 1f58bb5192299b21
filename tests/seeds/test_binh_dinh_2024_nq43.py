"""Bình Định 2024 NQ 43 (seed 000) replayed: half-yearly reports of the directly-superior unions straight to the
province, the yearly summary copied to three Tỉnh ủy bodies, per-unit quotas from XLSX, and the two award
regulations of 2024 (QĐ 1689 to 28/05, QĐ 999 from 29/05)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.models.tables import Assignment, ObligationDef, Target, Unit
from thidua.services import nominations as nom
from thidua.services.campaigns import load_campaign, read_campaign_file
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR

CAMPAIGN = CONFIG_DIR / "campaigns" / "binh_dinh_2024_nq43.yaml"
CODE = "bd-nq43-2024"


@pytest.fixture
def loaded(engine):
    load_levels(engine)
    import_units(engine, CONFIG_DIR / "units" / "binh_dinh.yaml")
    result = load_campaign(engine, CAMPAIGN)
    assert result.warnings == []
    return engine, result.campaign_id


def test_assumptions_are_marked():
    text = CAMPAIGN.read_text(encoding="utf-8")
    assert sum("GIẢ ĐỊNH" in line for line in text.splitlines()) >= 8
    assert len(read_campaign_file(CAMPAIGN)[0].assumption_notes) == 4


def test_key_dates_assignments_quotas_and_catalogues(loaded):
    engine, campaign_id = loaded
    with Session(engine) as session:
        due = dict(session.execute(select(ObligationDef.code, ObligationDef.due_on)).all())
        owed = dict(
            session.execute(
                select(ObligationDef.code, func.count(Assignment.id))
                .join(Assignment, Assignment.obligation_id == ObligationDef.id)
                .group_by(ObligationDef.code)
            ).all()
        )
        reviewers = set(
            session.execute(
                select(Unit.code)
                .join(Assignment, Assignment.reviewer_unit_id == Unit.id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .where(ObligationDef.series == "bao-cao-dinh-ky")
            ).scalars()
        )
        quotas = session.execute(select(Target.quotas).where(Target.code == "phat-trien-doan-vien")).scalar_one()
        assert nom._context(session, campaign_id, datetime(2024, 5, 28, 9)).catalogue.code == "qd1689-2019"
        assert nom._context(session, campaign_id, datetime(2024, 5, 29, 9)).catalogue.code == "qd999-2024"
    assert due == {
        "bao-cao-dinh-ky@2024-h1": date(2024, 7, 10),
        "bao-cao-dinh-ky@2024-h2": date(2025, 1, 10),
        "bao-cao-tong-hop": date(2024, 12, 20),
    }
    assert owed == {"bao-cao-dinh-ky@2024-h1": 19, "bao-cao-dinh-ky@2024-h2": 19, "bao-cao-tong-hop": 1}
    assert reviewers == {"BDH"}  # straight to the province (Ban Tuyên giáo - Nữ công)
    assert len(quotas) == 19 and quotas["BDH.QNH"] == 250 and sum(quotas.values()) == 1500


def _report(session, unit: str, half: int, members: int, unions: int, accept: bool = True) -> None:
    code = f"bao-cao-dinh-ky@2024-h{half}"
    when = datetime(2024, 7, 2, 3, tzinfo=timezone.utc) if half == 1 else datetime(2025, 1, 3, 3, tzinfo=timezone.utc)
    submit_report(
        session,
        campaign_code=CODE,
        obligation_code=code,
        unit_code=unit,
        actor=unit,
        now=when,
        raw={"so_doan_vien_moi": members, "so_cdcs_moi": unions},
    )
    if accept:
        review_report(
            session,
            campaign_code=CODE,
            obligation_code=code,
            unit_code=unit,
            reviewer_code="BDH",
            accept=True,
            actor="tuyengiao@ldld.binhdinh.vn",
            now=when.replace(hour=8),
        )


def test_targets_against_quotas_on_sample_data(loaded):
    engine, _ = loaded
    with Session(engine) as session:
        _report(session, "BDH.QNH", 1, 120, 2)
        _report(session, "BDH.QNH", 2, 100, 3)
        _report(session, "BDH.ANH", 1, 60, 1)
        _report(session, "BDH.ANH", 2, 40, 1)
        _report(session, "BDH.KKT", 1, 200, 4)
        _report(session, "BDH.KKT", 2, 90, 2, accept=False)  # not accepted yet: not counted
        session.commit()
        t = {r.code: r for r in target_progress(session, campaign_code=CODE, at=date(2025, 1, 10))}
    members = t["phat-trien-doan-vien"]
    # province: 120 + 100 + 60 + 40 + 200 = 520 of 1,500
    assert members.scope[0].progress.figure.value == 520 and members.scope[0].progress.target == 1500
    rows = {r.unit_code: r.progress for r in members.breakdown}
    assert (rows["BDH.QNH"].figure.value, rows["BDH.QNH"].target, rows["BDH.QNH"].achieved) == (220, 250, False)
    assert (rows["BDH.ANH"].figure.value, rows["BDH.ANH"].target, rows["BDH.ANH"].achieved) == (100, 80, True)
    assert (rows["BDH.KKT"].figure.value, rows["BDH.KKT"].target) == (200, 350)
    unions = {r.unit_code: r.progress for r in t["thanh-lap-cdcs"].breakdown}
    assert (unions["BDH.QNH"].figure.value, unions["BDH.QNH"].target, unions["BDH.QNH"].achieved) == (5, 5, True)
    assert t["thanh-lap-cdcs"].scope[0].progress.figure.value == 2 + 3 + 1 + 1 + 4
    every = t["bao-cao-du-ky"].scope[0].progress.figure
    assert (every.units_meeting, every.units_owing) == (2, 19)  # QNH and ANH; KKT's second report is not accepted


def test_summary_is_copied_to_the_tinh_uy_bodies(loaded):
    engine, _ = loaded
    with Session(engine) as session:
        submit_report(
            session,
            campaign_code=CODE,
            obligation_code="bao-cao-tong-hop",
            unit_code="BDH",
            actor="BDH",
            raw={"tom_tat": "Kết quả năm 2024"},
            now=datetime(2024, 12, 18, 3, tzinfo=timezone.utc),
        )
        session.commit()
        recipients = sorted(
            session.execute(select(OutboxMessage.recipient).where(OutboxMessage.kind == "report_copy")).scalars()
        )
    assert recipients == [
        "bandanvan@tinhuy.binhdinh.example.vn",
        "bantuyengiao@tinhuy.binhdinh.example.vn",
        "vanphong@tinhuy.binhdinh.example.vn",
    ]
