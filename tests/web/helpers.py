"""Shared steps of the web tests that set up prerequisites through the services, not the pages."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Session

from tests.web.conftest import World
from thidua.services.submissions import review_report, submit_report

# 05/10/2023 10:00 in Bình Định: round 2 is over, its nomination window (01/10 – 20/10) is open.
NOMINATION_NOW = datetime(2023, 10, 5, 3, 0, tzinfo=timezone.utc)


def report_accepted(world: World, unit_code: str, obligation_code: str, data: dict, reviewer_code: str) -> None:
    with Session(world.engine) as session:
        submit_report(
            session,
            campaign_code="bd-2023",
            obligation_code=obligation_code,
            unit_code=unit_code,
            raw=data,
            actor="test",
            now=world.now(),
        )
        review_report(
            session,
            campaign_code="bd-2023",
            obligation_code=obligation_code,
            unit_code=unit_code,
            reviewer_code=reviewer_code,
            accept=True,
            actor="test",
            now=world.now(),
        )
        session.commit()


def eligible_for_round_two_awards(world: World, unit_code: str = "BDH.D1.1", reviewer_code: str = "BDH.D1") -> None:
    """The unit registered for the year and its round 2 report was accepted (award criteria)."""
    report_accepted(
        world,
        unit_code,
        "dang-ky-thi-dua",
        {"danh_hieu_dang_ky": "CĐCS vững mạnh", "cong_trinh_moi": "Mô hình tiết kiệm điện", "so_sang_kien_dang_ky": 5},
        reviewer_code,
    )
    report_accepted(world, unit_code, "so-ket-dot-2", {"so_sang_kien": 4, "so_doan_vien_moi": 10}, reviewer_code)


PROPOSAL = {
    "giai_thuong": "bang-khen-ldld-tinh-chuyen-de",
    "doi_tuong": "collective",
    "dip": "round",
    "dot": "2",
    "chuyen_de": "Chương trình 01 triệu sáng kiến",
    "thanh_tich": "Có 4 sáng kiến được công nhận trong đợt 2.",
    "hs_bao-cao-thanh-tich": "05/BC-CĐCS",
    "hs_bien-ban-hoi-dong": "03/BB-CĐCS",
    "hs_bien-ban-hoi-dong_dong_y": "9",
    "hs_bien-ban-hoi-dong_tong": "11",
}


def proposal(world: World, unit_code: str = "BDH.D1.1", **changes: str) -> dict[str, str]:
    """The proposal form for a collective award to the unit itself, as typed on the page."""
    return {**PROPOSAL, "don_vi": str(world.units[unit_code].id), **changes}
