"""Công đoàn Viên chức tỉnh Bình Định 2022 (seed 002) replayed: half-yearly evaluations, the yearly figures
and every target computed by hand on sample data (ratios of sums, strict '>', appraisal, a cap of 0, an average
limited to CĐCS with a Party organisation)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.tables import Assignment, ObligationDef
from thidua.services.campaigns import load_campaign, read_campaign_file
from thidua.services.submissions import review_report, submit_report
from thidua.services.targets import target_progress
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR

CAMPAIGN = CONFIG_DIR / "campaigns" / "cdvc_binh_dinh_2022.yaml"
CODE = "cdvc-bd-2022"
HTXS, HTT, HTNV = "Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ", "Hoàn thành nhiệm vụ"
FIELDS = (
    "so_doan_vien",
    "so_dv_hoc_tap",
    "hoi_nghi_ccvc",
    "so_dv_uu_dai",
    "so_dv_kho_khan",
    "so_dv_kho_khan_duoc_tham",
    "so_nguoi_lao_dong",
    "so_nguoi_van_hoa",
    "so_ld_du_dk",
    "so_ld_du_dk_ket_nap",
    "so_dv_gioi_thieu_dang",
    "cong_khai_tai_chinh",
    "kiem_tra_quyet_toan",
)
# unit: (figures in FIELDS order, self rating, appraised rating or None = not yet accepted)
SAMPLE = {
    "BDH.VC.CS1032": ((50, 48, True, 12, 2, 2, 60, 50, 5, 5, 1, True, True), HTT, HTXS),
    "BDH.VC.CS1033": ((40, 39, True, 8, 1, 1, 45, 30, 2, 1, 2, True, False), HTT, HTT),
    "BDH.VC.CS1034": ((30, 30, False, 5, 0, 0, 30, 25, 0, 0, 0, True, True), HTT, HTNV),
    "BDH.VC.CS1038": ((20, 18, True, 4, 1, 0, 25, 20, 1, 1, 3, True, True), HTT, None),  # no Party organisation
}


@pytest.fixture
def loaded(engine):
    load_levels(engine)
    for name in ("binh_dinh.yaml", "binh_dinh_cdcs.csv", "binh_dinh_vc_thuoc_tinh.csv"):
        import_units(engine, CONFIG_DIR / "units" / name)
    assert load_campaign(engine, CAMPAIGN).warnings == []
    return engine


def test_assumptions_are_marked():
    text = CAMPAIGN.read_text(encoding="utf-8")
    assert sum("GIẢ ĐỊNH" in line for line in text.splitlines()) >= 4
    assert len(read_campaign_file(CAMPAIGN)[0].assumption_notes) == 5


def test_dates_and_recurring_assignments(loaded):
    with Session(loaded) as session:
        due = dict(session.execute(select(ObligationDef.code, ObligationDef.due_on)).all())
        per_obligation = dict(
            session.execute(
                select(ObligationDef.code, func.count(Assignment.id))
                .join(Assignment, Assignment.obligation_id == ObligationDef.id)
                .group_by(ObligationDef.code)
            ).all()
        )
    assert due == {
        "danh-gia-dinh-ky@2022-h1": date(2022, 7, 11),  # 10/07/2022 is a Sunday
        "danh-gia-dinh-ky@2022-h2": date(2023, 1, 10),
        "so-lieu-nam": date(2022, 12, 15),
    }
    assert per_obligation == {"danh-gia-dinh-ky@2022-h1": 56, "danh-gia-dinh-ky@2022-h2": 56, "so-lieu-nam": 56}


def test_targets_on_sample_data(loaded):
    with Session(loaded) as session:
        for unit, (figures, rating, appraised) in SAMPLE.items():
            submit_report(
                session,
                campaign_code=CODE,
                obligation_code="so-lieu-nam",
                unit_code=unit,
                actor=unit,
                raw={**dict(zip(FIELDS, figures)), "trien_khai_hoc_tap": True, "xep_loai_de_nghi": rating},
                now=datetime(2022, 12, 5, 3, tzinfo=timezone.utc),
            )
            if appraised:
                review_report(
                    session,
                    campaign_code=CODE,
                    obligation_code="so-lieu-nam",
                    unit_code=unit,
                    reviewer_code="BDH.VC",
                    accept=True,
                    actor="cd.vienchuc@ldld.binhdinh.vn",
                    appraised_rating=appraised,
                    now=datetime(2022, 12, 10, 3, tzinfo=timezone.utc),
                )
        session.commit()
        t = {r.code: r.scope[0].progress for r in target_progress(session, campaign_code=CODE, at=date(2022, 12, 31))}

    def share(code):
        return t[code].figure.units_meeting, t[code].figure.units_owing

    # counted: the three accepted reports (CS1032, CS1033, CS1034); 56 CĐCS owe the report
    assert share("cdcs-trien-khai-hoc-tap") == (3, 56)
    assert t["dv-hoc-tap-tren-95"].figure.value == pytest.approx(100 * 117 / 120)  # (48+39+30)/(50+40+30) = 97.5 %
    assert t["dv-hoc-tap-tren-95"].achieved
    assert share("hoi-nghi-ccvc") == (2, 56)
    assert t["dv-uu-dai-20"].figure.value == pytest.approx(100 * 25 / 120) and t["dv-uu-dai-20"].achieved
    assert t["tham-hoi-kho-khan"].figure.value == pytest.approx(100.0) and t["tham-hoi-kho-khan"].achieved
    assert t["van-hoa-75"].figure.value == pytest.approx(100 * 105 / 135)
    assert (
        t["ket-nap-du-dieu-kien"].figure.value == pytest.approx(100 * 6 / 7) and not t["ket-nap-du-dieu-kien"].achieved
    )
    assert t["gioi-thieu-dang"].figure.value == pytest.approx((1 + 2 + 0) / 3) and t["gioi-thieu-dang"].achieved
    assert share("cdcs-tot-tro-len") == (2, 56)  # appraised HTXS and HTT; CS1034 was appraised lower than it said
    assert t["khong-cdcs-khong-hoan-thanh"].figure.value == 0 and t["khong-cdcs-khong-hoan-thanh"].achieved
    assert share("cong-khai-tai-chinh") == (3, 56)
    assert share("kiem-tra-quyet-toan") == (2, 56)
