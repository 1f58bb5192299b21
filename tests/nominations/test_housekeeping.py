"""The clock's slower duties reach nominations: late reviewers are reminded, once per unit and day."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from tests.nominations.conftest import World
from thidua.scheduler import run_housekeeping


def _overdue_notices(world: World) -> int:
    with Session(world.engine) as session:
        return session.execute(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "nomination", OutboxMessage.context["audience"].as_string() == "overdue")
        ).scalar_one()


def test_housekeeping_reminds_a_late_reviewer_once(world: World) -> None:
    world.propose(
        "BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Nguyễn Văn An"), send="05/TTr-CĐCS"
    )
    before_due = datetime(2023, 11, 19, 2, 0, tzinfo=timezone.utc)  # the district may review until 20/11
    assert run_housekeeping(world.engine, before_due)["reviewer_reminders"] == 0
    late = datetime(2023, 11, 22, 2, 0, tzinfo=timezone.utc)
    assert run_housekeeping(world.engine, late)["reviewer_reminders"] == 1
    assert run_housekeeping(world.engine, late)["reviewer_reminders"] == 0  # same day: the key holds
    assert _overdue_notices(world) == 1
