"""The báo cáo nhanh of Bình Định 2023's 31/8 target (opens 31/08, due 08/09, owed by the districts directly under
the province): reminded on the same ladder as every report, at working moments around the National Day break
(01–04/09/2023), and still owed — so reminded — in October when a district never files it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from tests.reminders.conftest import CODE, QUICK, load_binh_dinh, local, vn
from thidua.models.reminders import reminder_key
from thidua.services import reminders as service
from thidua.settings import Settings


def test_the_quick_report_ladder_around_the_national_day_break(engine: Engine, settings: Settings, tmp_path: Path):
    campaign = load_binh_dinh(engine, settings, tmp_path, quick_report_filed=False)
    preview = service.preview(campaign.engine, CODE, now=vn(25, 8, hour=12), days=50, unit_code="BDH.D1")
    timeline = [
        (local(b.send_at), b.occurrence.occurrence_id)
        for b in preview.batches
        if b.kind == "reminder" and b.obligation_code == QUICK
    ]
    assert timeline == [
        ("31/08/2023 08:00", "truoc-7-ngay:0"),  # −7 is Fri 01/09, a holiday: back to Thu 31/08, the day it opens
        ("05/09/2023 08:00", "truoc-3-ngay:0"),  # the first working day after the break
        ("07/09/2023 08:00", "truoc-1-ngay:0"),
        ("11/09/2023 08:00", "qua-han-1-ngay:0"),  # +1 is Sat 09/09: Monday
        ("12/09/2023 08:00", "qua-han-nhac-lai:0"),  # +4, then every 3 days to +31 (09/10)
        ("15/09/2023 08:00", "qua-han-nhac-lai:1"),
        ("18/09/2023 08:00", "qua-han-nhac-lai:2"),
        ("21/09/2023 08:00", "qua-han-nhac-lai:3"),
        ("25/09/2023 08:00", "qua-han-nhac-lai:4"),  # Sun 24/09: Monday
        ("27/09/2023 08:00", "qua-han-nhac-lai:5"),
        ("02/10/2023 08:00", "qua-han-nhac-lai:6"),  # Sat 30/09: Monday
        ("03/10/2023 08:00", "qua-han-nhac-lai:7"),
        ("06/10/2023 08:00", "qua-han-nhac-lai:8"),
        ("09/10/2023 08:00", "qua-han-nhac-lai:9"),
    ]
    assert all(
        [u.code for u in b.units] == ["BDH.D1"]
        for b in preview.batches
        if b.kind == "reminder" and b.obligation_code == QUICK
    )
    cdcs = service.preview(campaign.engine, CODE, now=vn(25, 8, hour=12), days=50, unit_code="BDH.D1.1")
    assert not [b for b in cdcs.batches if b.kind == "reminder" and b.obligation_code == QUICK]  # a CĐCS owes none


def test_an_unfiled_quick_report_is_still_reminded_in_october(engine: Engine, settings: Settings, tmp_path: Path):
    campaign = load_binh_dinh(engine, settings, tmp_path, quick_report_filed=False)
    result = service.plan_due(campaign.engine, now=vn(3, 10))
    rows = campaign.outbox(kind="reminder")
    # The 8 units' −7 of so-ket-dot-2 (due 10/10), and the 2 districts' báo cáo nhanh, 25 days overdue.
    assert result.reminders == 8 + 2
    quick = {r.key for r in rows if r.rung.startswith("qua-han")}
    assert quick == {
        reminder_key(
            campaign.assignment_id(code, QUICK), "qua-han-nhac-lai:7", f"{code.lower().replace('.', '-')}@example.vn"
        )
        for code in ("BDH.D1", "BDH.D2")
    }
    assert result.escalations == 1  # the province hears of its 2 late districts, in one digest
    [escalation] = campaign.outbox(kind="escalation")
    assert escalation.recipient == "bdh@example.vn"
    # Filed and accepted: nothing more for it.
    campaign.set_status_all(QUICK, "da_duyet")
    assert service.plan_due(campaign.engine, now=vn(6, 10)).reminders == 8  # so-ket-dot-2's −3 (Sat 07/10) only
    assert [r.rung for r in campaign.outbox(kind="reminder") if r.rung.startswith("qua-han")] == [
        "qua-han-nhac-lai:7"
    ] * 2
