"""Kon Tum 2024 (seed 004) replayed: key dates on the 2024 calendar (worked Saturday, holidays), the monthly
evaluation as twelve dated obligations per CĐCS, the yearly report to the province, the province's summary
copied to the Tỉnh ủy through real SMTP, and each target's value on sample data computed by hand."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.notifications.sink import FaultInjectingHandler
from thidua.services import reminders as reminder_service
from thidua.services.campaigns import load_campaign, read_campaign_file
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR
from tests.reminders.conftest import mails_of, smtp_for

CAMPAIGN = CONFIG_DIR / "campaigns" / "kon_tum_2024.yaml"
CODE = "kt-2024"
CDCS = [
    "KTM.KTU.01",
    "KTM.KTU.02",
    "KTM.KTU.03",
    "KTM.DHA.01",
    "KTM.DHA.02",
    "KTM.NHO.01",
    "KTM.NHO.02",
    "KTM.GDU.01",
    "KTM.GDU.02",
    "KTM.GDU.03",
    "KTM.CVC.01",
    "KTM.CVC.02",
]


def utc(day: int, month: int, year: int = 2024, hour: int = 3) -> datetime:
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


@pytest.fixture
def kon_tum(engine):
    load_levels(engine)
    import_units(engine, CONFIG_DIR / "units" / "kon_tum.yaml")
    result = load_campaign(engine, CAMPAIGN)
    assert result.warnings == []  # 2024 is covered by the holiday overrides
    return engine


def test_every_assumption_is_marked_on_its_line():
    text = CAMPAIGN.read_text(encoding="utf-8")
    assert sum("GIẢ ĐỊNH" in line for line in text.splitlines()) >= 6
    spec, _ = read_campaign_file(CAMPAIGN)
    assert len(spec.assumption_notes) == 4


def test_key_dates(kon_tum):
    with Session(kon_tum) as session:
        due = dict(session.execute(select(ObligationDef.code, ObligationDef.due_on)).all())
    monthly = [due[f"danh-gia-thang@2024-{m:02d}"] for m in range(1, 13)]
    assert monthly == [
        date(2024, 2, 5),
        date(2024, 3, 5),
        date(2024, 4, 5),
        date(2024, 5, 6),  # 05/05 is a Sunday (the Saturday before was a worked day, the Sunday is not)
        date(2024, 6, 5),
        date(2024, 7, 5),
        date(2024, 8, 5),
        date(2024, 9, 5),
        date(2024, 10, 7),  # 05/10 Saturday → Monday
        date(2024, 11, 5),
        date(2024, 12, 5),
        date(2025, 1, 6),  # 05/01/2025 Sunday → Monday
    ]
    assert due["bao-cao-nam@2024"] == date(2024, 11, 14)  # "trước ngày 15 tháng 11"
    assert due["tong-hop-nam"] == date(2024, 12, 2)  # 30/11/2024 is a Saturday


def test_recurring_and_yearly_assignments(kon_tum):
    with Session(kon_tum) as session:
        A, O, U = Assignment, ObligationDef, Unit
        monthly = session.execute(
            select(func.count()).select_from(A).join(O, O.id == A.obligation_id).where(O.series == "danh-gia-thang")
        ).scalar_one()
        per_month = set(
            session.execute(
                select(func.count())
                .select_from(A)
                .join(O, O.id == A.obligation_id)
                .where(O.series == "danh-gia-thang")
                .group_by(O.id)
            ).scalars()
        )
        ktm = session.execute(select(U.id).where(U.code == "KTM")).scalar_one()
        yearly = session.execute(
            select(A.reviewer_unit_id, func.count())
            .join(O, O.id == A.obligation_id)
            .where(O.code == "bao-cao-nam@2024")
            .group_by(A.reviewer_unit_id)
        ).all()
        summary = (
            session.execute(
                select(U.code)
                .join(A, A.unit_id == U.id)
                .join(O, O.id == A.obligation_id)
                .where(O.code == "tong-hop-nam")
            )
            .scalars()
            .all()
        )
    assert monthly == 12 * 12 and per_month == {12}
    assert yearly == [(ktm, 12 + 12)]  # every level reports straight to the province (via Ban Tuyên giáo - Nữ công)
    assert summary == ["KTM"]


def _monthly(session, unit: str, month: int, held: bool) -> None:
    submit_report(
        session,
        campaign_code=CODE,
        obligation_code=f"danh-gia-thang@2024-{month:02d}",
        unit_code=unit,
        raw={"da_danh_gia": held, "so_nguoi_du": 20},
        actor=unit,
        now=utc(28, month),
    )


def _yearly(session, unit: str, accept: bool) -> None:
    submit_report(
        session,
        campaign_code=CODE,
        obligation_code="bao-cao-nam@2024",
        unit_code=unit,
        raw={"so_nguoi_duoc_tuyen_truyen": 100, "so_nguoi_lao_dong": 120},
        actor=unit,
        now=utc(8, 11),
    )
    if accept:
        review_report(
            session,
            campaign_code=CODE,
            obligation_code="bao-cao-nam@2024",
            unit_code=unit,
            reviewer_code="KTM",
            accept=True,
            actor="tuyengiao.nucong@ldld.kontum.example.vn",
            now=utc(10, 11),
        )


def test_targets_on_sample_data(kon_tum):
    with Session(kon_tum) as session:
        for month in range(1, 13):
            for unit in ("KTM.KTU.01", "KTM.KTU.02", "KTM.GDU.01"):
                _monthly(session, unit, month, True)  # every month
            if month != 6:
                _monthly(session, "KTM.KTU.03", month, True)  # misses June
            _monthly(session, "KTM.DHA.01", month, month != 3)  # reports March as not held
        for unit in ("KTM.KTU", "KTM.GDU", "KTM.KTU.01", "KTM.KTU.02", "KTM.GDU.01"):
            _yearly(session, unit, accept=True)
        _yearly(session, "KTM.GDU.02", accept=False)  # sent, not yet accepted by the province: not counted
        session.commit()
        at_year_end = {t.code: t for t in target_progress(session, campaign_code=CODE, at=date(2025, 1, 6))}
        at_deadline = {t.code: t for t in target_progress(session, campaign_code=CODE, at=date(2024, 11, 14))}

    every_month = at_year_end["cdcs-danh-gia-moi-thang"]
    figure = every_month.scope[0].progress.figure
    # 3 of the 12 CĐCS evaluated in each of the 12 months (KTU.01, KTU.02, GDU.01)
    assert (figure.units_meeting, figure.units_owing) == (3, 12) and figure.value == pytest.approx(25.0)
    by_district = {r.unit_code: r.progress.figure for r in every_month.breakdown}
    assert (by_district["KTM.KTU"].units_meeting, by_district["KTM.KTU"].units_owing) == (2, 3)
    assert by_district["KTM.KTU"].value == pytest.approx(200 / 3)
    assert (by_district["KTM.DHA"].units_meeting, by_district["KTM.DHA"].units_owing) == (0, 2)
    assert (by_district["KTM.GDU"].units_meeting, by_district["KTM.GDU"].value) == (1, pytest.approx(100 / 3))
    assert by_district["KTM.DTO"].units_owing == 0 and by_district["KTM.DTO"].value is None

    yearly = at_deadline["bao-cao-nam-du"]
    figure = yearly.scope[0].progress.figure
    # owing: 12 directly-superior unions + 12 CĐCS; counted: 5 accepted reports
    assert (figure.units_meeting, figure.units_owing) == (5, 24) and figure.value == pytest.approx(500 / 24)
    by_district = {r.unit_code: r.progress.figure for r in yearly.breakdown}
    assert (by_district["KTM.KTU"].units_meeting, by_district["KTM.KTU"].units_owing) == (3, 4)  # itself + 3 CĐCS
    assert (by_district["KTM.GDU"].units_meeting, by_district["KTM.GDU"].units_owing) == (2, 4)


def test_province_summary_is_copied_to_the_tinh_uy(kon_tum, settings, sink_factory):
    with Session(kon_tum) as session:
        for version in (1, 2):  # a corrected second version is copied again
            submit_report(
                session,
                campaign_code=CODE,
                obligation_code="tong-hop-nam",
                unit_code="KTM",
                raw={"tom_tat": f"Kết quả năm 2024 (bản {version})"},
                actor="KTM",
                now=utc(25, 11),
            )
        session.commit()
        copies = session.execute(
            select(OutboxMessage.recipient, OutboxMessage.kind).where(OutboxMessage.kind == "report_copy")
        ).all()
    assert sorted(copies) == sorted(
        [("vanphong@tinhuy.kontum.example.vn", "report_copy"), ("bantuyengiao@tinhuy.kontum.example.vn", "report_copy")]
        * 2
    )
    sink = sink_factory(FaultInjectingHandler())
    asyncio.run(
        reminder_service.run_dispatch(
            kon_tum, settings, now=utc(25, 11, hour=4), smtp=smtp_for(sink.host, sink.port), campaign_code=CODE
        )
    )
    mails = [m for m in mails_of(sink.handler.accepted) if "Bản sao báo cáo" in m.subject]
    assert sorted(m.to for m in mails) == sorted(
        ["vanphong@tinhuy.kontum.example.vn", "bantuyengiao@tinhuy.kontum.example.vn"] * 2
    )
    assert all("Liên đoàn Lao động tỉnh Kon Tum đã gửi" in m.text for m in mails)
    assert any("Kính gửi Văn phòng Tỉnh ủy Kon Tum" in m.text and "(bản 2)" in m.text for m in mails)
