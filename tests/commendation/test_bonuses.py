"""Bonuses: the catalogue's multiplier × the lương cơ sở in force on the decision date, per subject; totals per
decision; the reward-fund XLSX leaves revoked decisions out of the total."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.commendation.conftest import person_at_province
from tests.nominations.conftest import World
from thidua.models.bonuses import bonus_amount
from thidua.services.commendation import bonuses, decisions
from thidua.services.commendation.config import commendation_config


@pytest.mark.parametrize(
    "day, base",
    [
        (date(2019, 6, 30), None),
        (date(2019, 7, 1), 1_490_000),
        (date(2023, 6, 30), 1_490_000),
        (date(2023, 7, 1), 1_800_000),
        (date(2024, 6, 30), 1_800_000),
        (date(2024, 7, 1), 2_340_000),
    ],
)
def test_base_salary_in_force_on_a_day(day: date, base: int | None) -> None:
    row = commendation_config().base_salary_on(day)
    assert (row.amount if row else None) == base


@pytest.mark.parametrize(
    "multiplier, base, amount",
    [
        (1.0, 2_340_000, 2_340_000),
        (0.3, 2_340_000, 702_000),
        (0.15, 1_490_000, 224_000),
        (8.0, 1_800_000, 14_400_000),
        (0.3, 1_001_666, 300_000),
        (0.3, 1_001_667, 301_000),
    ],
)
def test_amount_is_exact_and_rounded_to_the_thousand(multiplier: float, base: int, amount: int) -> None:
    assert bonus_amount(multiplier, base) == amount


def test_decision_carries_each_amount_and_its_total_and_the_fund_report(world: World, tmp_path: Path) -> None:
    an, binh = person_at_province(world, "Nguyễn Văn An"), person_at_province(world, "Trần Thị Bình", cdcs="BDH.D2.1")
    (banner,) = world.propose(
        "BDH.D1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.3"), now=datetime(2023, 11, 15, 10)
    )
    world.send("BDH.D1", "41/TTr", datetime(2023, 11, 17, 9))
    issued = decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(date(2023, 12, 20), "Nguyễn Văn Bình"),
        nomination_ids=[an, binh, banner],
        now=datetime(2023, 12, 20, 2, tzinfo=timezone.utc),
    )
    # 2023-12-20: lương cơ sở 1.800.000 đ; Bằng khen cá nhân ×1,0; Cờ thi đua tập thể ×8,0
    assert issued.amounts == {an: 1_800_000, binh: 1_800_000, banner: 14_400_000}
    assert issued.total_amount == 18_000_000
    detail = decisions.get_decision(world.engine, issued.id)
    assert [(i["multiplier"], i["base_salary"]) for i in detail["items"]] == [(1.0, 1_800_000)] * 2 + [(8.0, 1_800_000)]
    later = person_at_province(world, "Lê Văn Cường", cdcs="BDH.D1.2")
    second = decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(date(2023, 12, 22), "Nguyễn Văn Bình"),
        nomination_ids=[later],
        now=datetime(2023, 12, 22, 2, tzinfo=timezone.utc),
    )
    decisions.revoke_decision(
        world.engine,
        second.id,
        world.actor("BDH"),
        reason="Trùng thành tích",
        now=datetime(2023, 12, 23, 2, tzinfo=timezone.utc),
    )
    fund = bonuses.reward_fund(world.engine, world.campaign_id)
    assert (fund["total"], fund["count"], fund["revoked_total"]) == (18_000_000, 3, 1_800_000)
    out = bonuses.write_reward_fund_xlsx(world.engine, world.campaign_id, tmp_path / "quy.xlsx")
    rows = [[c for c in r] for r in load_workbook(out)["Tổng hợp"].iter_rows(values_only=True)]
    assert ["1/QĐ-LĐLĐ", "20/12/2023", "Liên đoàn Lao động tỉnh Bình Định", 3, 18_000_000, "Có hiệu lực"] in rows
    assert any(r[0] == "2/QĐ-LĐLĐ" and str(r[5]).startswith("Đã hủy (3/QĐ-LĐLĐ): Trùng thành tích") for r in rows)
    assert ["Cộng (quyết định có hiệu lực)", None, None, 3, 18_000_000, None] in rows
    detail_rows = list(load_workbook(out)["Chi tiết"].iter_rows(values_only=True))
    assert (
        "1/QĐ-LĐLĐ",
        "20/12/2023",
        3,
        "CĐCS Đơn vị Mẫu 1-3 (giả lập)",
        None,
        "CĐCS Đơn vị Mẫu 1-3 (giả lập)",
        "Cờ thi đua của Liên đoàn Lao động tỉnh",
        1_800_000,
        8.0,
        14_400_000,
        "Có hiệu lực",
    ) in detail_rows
