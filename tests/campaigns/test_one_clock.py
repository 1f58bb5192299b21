"""Issue 11 points 6 and 7: `--now` shows the world as of that moment (status counts only what existed then;
the reminder preview inside a replayed year), and one roll-up definition of "late" that the CLI status, the
web dashboard and the office digest share."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlmodel import Session

from thidua.models.clock import local_to_utc
from thidua.models.tables import Campaign, Unit
from tests.factories import small_binh_dinh
from tests.conftest import BINH_DINH_CAMPAIGN
from thidua.db import session_scope
from thidua.services import reminders as reminder_service
from thidua.services.campaigns import load_campaign
from thidua.services.status import status_report
from thidua.services.submissions import review_report, submit_report
from thidua.web.queries import compliance_by_obligation


def vn(day: int, month: int, hour: int = 9) -> datetime:
    return local_to_utc(datetime(2023, month, day, hour, 0))


@pytest.fixture
def history(any_engine):
    """so-ket-dot-1 (due 10/06/2023): D1.1 on time then returned; D1.2 late on 14/06; D2.1 on 20/06."""
    with Session(any_engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(any_engine, BINH_DINH_CAMPAIGN)
    steps = [("BDH.D1.1", vn(5, 6), None), ("BDH.D1.2", vn(14, 6), vn(15, 6)), ("BDH.D2.1", vn(20, 6), None)]
    for unit, sent, accepted in steps:
        with session_scope(any_engine) as session:
            submit_report(
                session,
                campaign_code="bd-2023",
                obligation_code="so-ket-dot-1",
                unit_code=unit,
                raw={"so_sang_kien": 1, "so_doan_vien_moi": 1},
                actor="t@example.vn",
                now=sent,
            )
        if accepted:
            with session_scope(any_engine) as session:
                review_report(
                    session,
                    campaign_code="bd-2023",
                    obligation_code="so-ket-dot-1",
                    unit_code=unit,
                    reviewer_code=unit.rsplit(".", 1)[0],
                    accept=True,
                    actor="r@example.vn",
                    now=accepted,
                )
    with session_scope(any_engine) as session:
        review_report(
            session,
            campaign_code="bd-2023",
            obligation_code="so-ket-dot-1",
            unit_code="BDH.D1.1",
            reviewer_code="BDH.D1",
            accept=False,
            actor="r@example.vn",
            comment="Sửa số liệu",
            now=vn(12, 6),
        )
    return any_engine


def counts(engine, at: datetime, *, as_of: bool) -> tuple[int, ...]:
    with Session(engine) as session:
        t = status_report(session, "bd-2023", obligation_code="so-ket-dot-1", now=at, as_of=as_of).total
    return t.owed, t.submitted, t.accepted, t.returned, t.overdue, t.late_submitted


def test_status_now_counts_only_what_existed_then(history) -> None:
    # 8 owe it (6 CĐCS + 2 districts). On 08/06 only D1.1 had sent; nothing was overdue.
    assert counts(history, vn(8, 6), as_of=True) == (8, 1, 0, 0, 0, 0)
    # 16/06: D1.1 returned (overdue again), D1.2 sent late and accepted, six others overdue.
    assert counts(history, vn(16, 6), as_of=True) == (8, 1, 1, 1, 7, 1)
    # today (no --now): everything that happened.
    assert counts(history, vn(30, 6), as_of=False) == (8, 2, 1, 1, 6, 2)


def test_reminder_preview_inside_a_replayed_year(history) -> None:
    """D2.1 sent on 20/06, after the preview moment: it was still owed on 07/06 and is previewed."""
    preview = reminder_service.preview(history, "bd-2023", now=vn(7, 6, 7), days=5, unit_code="BDH.D2.1")
    assert [
        (b.obligation_code, b.occurrence.occurrence_id, [u.code for u in b.units])
        for b in preview.batches
        if b.kind == "reminder"
    ] == [("so-ket-dot-1", "truoc-3-ngay:0", ["BDH.D2.1"]), ("so-ket-dot-1", "truoc-1-ngay:0", ["BDH.D2.1"])]


def test_cli_web_and_digest_agree_on_late(history) -> None:
    at = vn(16, 6)
    with Session(history) as session:
        cli = status_report(session, "bd-2023", obligation_code="so-ket-dot-1", now=at).total
        root = session.get(Unit, session.get(Campaign, 1).root_unit_id)
        ((_, web),) = [
            (ob, c) for ob, c in compliance_by_obligation(session, 1, root.path, at) if ob.code == "so-ket-dot-1"
        ]
        infos = reminder_service.campaign_infos(session, [1])
        digest = next(
            o
            for o in reminder_service.office_digest_context(session, infos[1], now=at, frequency="daily")["obligations"]
            if o["title"] == "Báo cáo sơ kết đợt 1"
        )
    assert (cli.owed, cli.submitted, cli.overdue, cli.late_submitted) == (
        web.total,
        web.submitted,
        web.overdue,
        web.late,
    )
    assert (cli.owed, cli.submitted, cli.overdue, cli.late_submitted) == (
        digest["owing"],
        digest["submitted"],
        digest["overdue"],
        digest["late_submitted"],
    )
    assert datetime.now(timezone.utc) > at
