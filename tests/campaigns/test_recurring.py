"""Recurring obligations ('every: month | quarter | half_year | year'): one dated obligation per period,
assignments per period, reminders and status per period, and share targets that require every period."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.periods import periods
from thidua.models.tables import Assignment, ObligationDef
from thidua.models.outbox import OutboxMessage
from thidua.services.campaigns import load_campaign
from thidua.services.reminders import plan_due
from thidua.services.status import status_report
from thidua.services.submissions import submit_report
from thidua.services.targets import target_progress
from tests.factories import small_binh_dinh

FILE = Path(__file__).parent / "v2" / "recurring.yaml"


@pytest.fixture
def loaded(engine):
    with Session(engine) as session:
        small_binh_dinh(session)  # 2 districts × 3 CĐCS
        session.commit()
    load_campaign(engine, FILE)
    return engine


def test_periods_are_calendar_periods_clipped_to_the_window():
    months = periods("month", date(2024, 2, 15), date(2024, 12, 31))
    assert (months[0].key, months[0].starts, months[0].ends) == ("2024-02", date(2024, 2, 15), date(2024, 2, 29))
    assert len(months) == 11 and months[-1].label == "tháng 12/2024"
    assert [p.key for p in periods("quarter", date(2024, 1, 1), date(2024, 12, 31))] == [
        "2024-q1",
        "2024-q2",
        "2024-q3",
        "2024-q4",
    ]
    halves = periods("half_year", date(2021, 1, 1), date(2025, 12, 31))
    assert len(halves) == 10 and halves[1].label == "6 tháng cuối năm 2021" and halves[1].starts == date(2021, 7, 1)
    assert [p.key for p in periods("year", date(2021, 3, 1), date(2025, 12, 31))] == [
        "2021",
        "2022",
        "2023",
        "2024",
        "2025",
    ]


def test_one_dated_obligation_per_period(loaded):
    with Session(loaded) as session:
        rows = session.exec(
            select(
                ObligationDef.code,
                ObligationDef.series,
                ObligationDef.period_starts,
                ObligationDef.period_ends,
                ObligationDef.due_on,
                ObligationDef.title,
            ).order_by(ObligationDef.due_on)
        ).all()
    monthly = [r for r in rows if r.series == "danh-gia-thang"]
    assert len(monthly) == 12
    assert (monthly[0].code, monthly[0].due_on) == ("danh-gia-thang@2023-01", date(2023, 2, 5))
    assert (monthly[1].period_ends, monthly[1].due_on) == (date(2023, 2, 28), date(2023, 3, 5))
    assert (monthly[-1].code, monthly[-1].due_on) == ("danh-gia-thang@2023-12", date(2024, 1, 5))
    assert monthly[2].title == "Đánh giá trong sinh hoạt công đoàn (tháng 03/2023)"
    quarterly = [(r.code, r.period_starts, r.due_on) for r in rows if r.series == "bao-cao-quy"]
    assert quarterly == [
        ("bao-cao-quy@2023-q2", date(2023, 4, 1), date(2023, 7, 10)),
        ("bao-cao-quy@2023-q3", date(2023, 7, 1), date(2023, 10, 10)),
        ("bao-cao-quy@2023-q4", date(2023, 10, 1), date(2024, 1, 10)),
    ]
    assert [(r.code, r.due_on) for r in rows if r.series == "bao-cao-nam"] == [("bao-cao-nam@2023", date(2023, 11, 15))]


def test_assignments_per_period_and_reload_changes_nothing(loaded):
    with Session(loaded) as session:
        per_obligation = dict(
            session.execute(
                select(ObligationDef.code, func.count(Assignment.id))
                .join(Assignment, Assignment.obligation_id == ObligationDef.id)
                .group_by(ObligationDef.code)
            ).all()
        )
        march = (
            session.execute(
                select(Assignment.due_on)
                .join(ObligationDef, Assignment.obligation_id == ObligationDef.id)
                .where(ObligationDef.code == "danh-gia-thang@2023-03")
            )
            .scalars()
            .all()
        )
    assert per_obligation["danh-gia-thang@2023-03"] == 6  # every CĐCS, each month
    assert sum(n for c, n in per_obligation.items() if c.startswith("danh-gia-thang@")) == 72
    assert per_obligation["bao-cao-quy@2023-q4"] == 2  # the two districts
    assert per_obligation["bao-cao-nam@2023"] == 8
    assert set(march) == {date(2023, 4, 5)}
    again = load_campaign(loaded, FILE)
    assert not again.changed and again.assignments_created == 0


def test_reminders_and_status_are_per_period(loaded):
    # 3 days before the January period is due (05/02/2023), 08:00 local = 01:00 UTC
    planned = plan_due(loaded, now=datetime(2023, 2, 2, 1, 0, tzinfo=timezone.utc), campaign_code="dinh-ky")
    assert planned.reminders == 6
    with Session(loaded) as session:
        reminded = (
            session.execute(
                select(ObligationDef.code)
                .select_from(OutboxMessage)
                .join(Assignment, Assignment.id == OutboxMessage.assignment_id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .where(OutboxMessage.kind == "reminder")
            )
            .scalars()
            .all()
        )
        assert set(reminded) == {"danh-gia-thang@2023-01"}
        submit_report(
            session,
            campaign_code="dinh-ky",
            obligation_code="danh-gia-thang@2023-01",
            unit_code="BDH.D1.1",
            raw={"da_danh_gia": True},
            actor="t",
            now=datetime(2023, 2, 1, 3, tzinfo=timezone.utc),
        )
        session.commit()
        january = status_report(session, campaign_code="dinh-ky", obligation_code="danh-gia-thang@2023-01")
        february = status_report(session, campaign_code="dinh-ky", obligation_code="danh-gia-thang@2023-02")
    assert (january.total.owed, january.total.submitted) == (6, 1)
    assert (february.total.owed, february.total.submitted) == (6, 0)


def _month_report(session, unit: str, month: int, held: bool, attendees: int) -> None:
    submit_report(
        session,
        campaign_code="dinh-ky",
        obligation_code=f"danh-gia-thang@2023-{month:02d}",
        unit_code=unit,
        raw={"da_danh_gia": held, "so_doan_vien_du": attendees},
        actor=unit,
        now=datetime(2023, month, 28, 3, tzinfo=timezone.utc),
    )


def test_every_period_share_requires_each_period_due(loaded):
    with Session(loaded) as session:
        for month in range(1, 13):
            _month_report(session, "BDH.D1.1", month, True, 10)  # every month
            if month != 7:
                _month_report(session, "BDH.D1.2", month, True, 10)  # misses July
        _month_report(session, "BDH.D2.1", 1, True, 20)  # January only
        _month_report(session, "BDH.D2.2", 2, False, 0)  # a report saying "not held"
        session.commit()

        def figures(at: date) -> dict[str, object]:
            return {r.code: r for r in target_progress(session, campaign_code="dinh-ky", at=at)}

        # 05/03/2023: January and February are due. D1.1 and D1.2 met both; D2.1 met only January.
        early = figures(date(2023, 3, 5))
        every = early["danh-gia-du-12-thang"]
        assert every.scope[0].progress.figure.units_owing == 6
        assert every.scope[0].progress.figure.units_meeting == 2
        assert every.scope[0].progress.figure.value == pytest.approx(100 * 2 / 6)
        assert [(r.unit_code, r.progress.figure.units_meeting) for r in every.breakdown] == [
            ("BDH.D1", 2),
            ("BDH.D2", 0),
        ]
        # 04/02/2023: nothing due yet, so no unit can have met "every period"
        assert figures(date(2023, 2, 4))["danh-gia-du-12-thang"].scope[0].progress.figure.units_meeting == 0
        # After the December period is due: only D1.1 met all twelve; one month held is enough for the plain share.
        late = figures(date(2024, 1, 5))
        assert late["danh-gia-du-12-thang"].scope[0].progress.figure.units_meeting == 1
        assert late["danh-gia-du-12-thang"].scope[0].progress.figure.value == pytest.approx(100 / 6)
        assert late["danh-gia-it-nhat-mot-thang"].scope[0].progress.figure.units_meeting == 3
        assert late["luot-doan-vien-du"].scope[0].progress.figure.value == 12 * 10 + 11 * 10 + 20
