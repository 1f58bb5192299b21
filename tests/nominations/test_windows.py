"""Each level's lists leave when its window closes: the service, and once through the real Prefect flow."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

import pytest

from thidua.models.clock import local_to_utc
from tests.nominations.conftest import World
from thidua.services import nominations as nom


def prepared(world: World, unit: str, number: str, now: datetime) -> int:
    return nom.prepare_batch(
        world.engine,
        world.campaign_id,
        world.actor(unit),
        nom.DocumentRef(number, now.date()),
        occasion="year_end",
        now=now,
    )


def test_window_schedule_of_the_2023_campaign(world: World) -> None:
    schedule = {
        (w.occasion, w.round_number, w.level): w.closes_on for w in nom.window_schedule(world.engine, world.campaign_id)
    }
    assert schedule[("year_end", None, "cdcs")] == date(2023, 11, 30)
    assert schedule[("year_end", None, "cap_tren_truc_tiep")] == date(2023, 12, 10)
    assert schedule[("year_end", None, "ldld_tinh")] == date(2023, 12, 25)
    assert schedule[("round", 2, "cdcs")] == date(2023, 10, 20)
    assert schedule[("round", 2, "cap_tren_truc_tiep")] == date(2023, 10, 30)


def test_closing_windows_sends_prepared_lists_level_by_level(world: World) -> None:
    nov_20 = datetime(2023, 11, 20, 9)
    (ready,) = world.propose("BDH.D1.1", world.proposal("cdcs-vung-manh", "BDH.D1.1"), now=nov_20)
    (unprepared,) = world.propose("BDH.D1.2", world.proposal("cdcs-vung-manh", "BDH.D1.2"), now=nov_20)
    (provincial,) = world.propose(
        "BDH.D1.3", world.proposal("bang-khen-ldld-tinh", "BDH.D1.3", person="Vũ Thị Hoa"), now=nov_20
    )
    prepared(world, "BDH.D1.1", "07/TTr-CĐCS", nov_20)
    prepared(world, "BDH.D1.3", "08/TTr-CĐCS", nov_20)

    assert (
        nom.close_windows(world.engine, world.campaign_id, now=datetime(2023, 11, 30, 20)).sent == []
    )  # not closed yet
    result = nom.close_windows(world.engine, world.campaign_id, now=datetime(2023, 12, 1, 6), rating=world.rating)
    assert sorted(i for b in result.sent for i in b.nomination_ids) == [ready, provincial]
    assert [(m["unit_id"], m["reason"]) for m in result.missing_to_trinh] == [
        (world.units["BDH.D1.2"], "chưa có số tờ trình")
    ]
    assert world.view(ready).current_unit == "LĐLĐ huyện Thử Nghiệm 1" and world.view(unprepared).status == "proposed"
    assert world.view(ready).steps[-1].actor == "system:dong-cua-so-khen-thuong"

    world.approve("BDH.D1", [provincial], datetime(2023, 12, 5, 9))
    prepared(world, "BDH.D1", "60/TTr-LĐLĐ", datetime(2023, 12, 5, 9))
    again = nom.close_windows(world.engine, world.campaign_id, now=datetime(2023, 12, 11, 6), rating=world.rating)
    assert [b.nomination_ids for b in again.sent] == [[provincial]] and again.sent[0].to_unit_id == world.units["BDH"]
    assert (
        nom.close_windows(world.engine, world.campaign_id, now=datetime(2023, 12, 11, 7), rating=world.rating).sent
        == []
    )


@pytest.mark.slow
def test_the_prefect_flow_closes_windows(world: World) -> None:
    """The one test that runs a real flow (Prefect's temporary server takes ~10 s to start)."""
    from thidua.flows.nominations import close_nomination_windows

    nov_20 = datetime(2023, 11, 20, 9)
    # An award whose criteria need no year-end rating: the flow uses the production rating port.
    (nid,) = world.propose(
        "BDH.D2.1", world.proposal("giay-khen-cap-tren", "BDH.D2.1", person="Đinh Văn Khoa"), now=nov_20
    )
    prepared(world, "BDH.D2.1", "09/TTr-CĐCS", nov_20)
    summary = asyncio.run(
        close_nomination_windows(
            "bd-2023",
            now=local_to_utc(datetime(2023, 12, 1, 6)),
            database_url=world.engine.url.render_as_string(hide_password=False),
        )
    )
    assert summary["missing"] == []
    assert summary["sent"] == [
        {"batch_id": summary["sent"][0]["batch_id"], "to_unit_id": world.units["BDH.D2"], "count": 1}
    ]
    assert world.view(nid).status == "under_review" and world.view(nid).current_unit == "LĐLĐ huyện Thử Nghiệm 2"
