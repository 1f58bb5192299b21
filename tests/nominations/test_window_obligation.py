"""Issue 11 point 1: the proposal window is an obligation like a report. It is fulfilled by sending the unit's
list (the batch) or by declaring "không có đề nghị"; either stops reminders and counts in status and digests."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from thidua.cli import nominations as cli
from thidua.cli.main import app
from thidua.models.clock import local_to_utc
from thidua.models.nominations import InvalidNominationInput
from thidua.models.tables import Assignment, ObligationDef
from tests.nominations.conftest import NOV_10, World, build_world
from thidua.services import nominations as nom
from thidua.services import reminders as reminder_service
from thidua.services.status import status_report

YEAR_END_WINDOW = "de-xuat-khen-thuong-nam"


def window_status(world: World, unit: str, code: str = YEAR_END_WINDOW) -> str:
    with Session(world.engine) as session:
        return session.execute(
            select(Assignment.status)
            .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)  # type: ignore[arg-type]
            .where(ObligationDef.code == code, Assignment.unit_id == world.units[unit])
        ).scalar_one()


def chased_units(world: World, at: datetime) -> set[str]:
    """Units the reminder preview would still write to about the year-end window."""
    preview = reminder_service.preview(world.engine, "bd-2023", now=local_to_utc(at), days=40)
    return {u.code for b in preview.batches if b.obligation_code == YEAR_END_WINDOW for u in b.units}


@pytest.fixture
def any_world(any_engine) -> World:
    return build_world(any_engine)


def test_sending_the_list_fulfils_the_window(any_world: World) -> None:
    world = any_world
    assert window_status(world, "BDH.D1.1") == "chua_gui"
    world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"), send="05/TTr-CĐCS")
    assert window_status(world, "BDH.D1.1") == "da_duyet"
    assert window_status(world, "BDH.D1.2") == "chua_gui"  # only the sender's obligation
    with Session(world.engine) as session:
        report = status_report(
            session, "bd-2023", unit_code="BDH.D1", obligation_code=YEAR_END_WINDOW, now=local_to_utc(NOV_10)
        )
    assert (report.total.owed, report.total.submitted) == (4, 1)


def test_declaring_no_proposal_fulfils_the_window_and_stops_reminders(any_world: World) -> None:
    world = any_world
    assert "BDH.D1.2" in chased_units(world, datetime(2023, 11, 20, 6))
    nom.declare_no_proposals(world.engine, world.campaign_id, world.actor("BDH.D1.2"), occasion="year_end", now=NOV_10)
    assert window_status(world, "BDH.D1.2") == "da_duyet"
    assert "BDH.D1.2" not in chased_units(world, datetime(2023, 11, 20, 6))
    assert "BDH.D1.3" in chased_units(world, datetime(2023, 11, 20, 6))


def test_declaration_refused_when_proposals_wait_to_be_sent(world: World) -> None:
    world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"))
    with pytest.raises(InvalidNominationInput, match="chưa gửi"):
        nom.declare_no_proposals(
            world.engine, world.campaign_id, world.actor("BDH.D1.1"), occasion="year_end", now=NOV_10
        )
    assert window_status(world, "BDH.D1.1") == "chua_gui"


def test_cli_declares_no_proposal(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_engine", lambda: world.engine)
    result = CliRunner().invoke(
        app, ["nominations", "none", "bd-2023", "--as", "BDH.D2.1", "--now", "10/11/2023 09:00"]
    )
    assert result.exit_code == 0, result.output
    assert "không có đề nghị" in result.output
    assert window_status(world, "BDH.D2.1") == "da_duyet"


def test_mail_of_a_replayed_action_is_queued_at_the_replayed_time(world: World) -> None:
    """Issue 11 point 6: actions done with --now queue their mail at that moment, not at the wall clock
    (else a replay leaves them pending for years)."""
    world.propose("BDH.D1.1", world.proposal("bang-khen-ldld-tinh", "BDH.D1.1", person="Lê Văn C"), send="05/TTr")
    world.approve("BDH.D1", [1], datetime(2023, 11, 15, 9))
    rows = world.outbox_for("BDH.D1.1") + world.outbox_for("BDH.D1")
    assert rows
    assert all(r.scheduled_at.replace(tzinfo=None) <= datetime(2023, 11, 15, 3, 0) for r in rows), [
        (r.key, r.scheduled_at) for r in rows
    ]
