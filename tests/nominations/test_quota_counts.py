"""Quota counters (issue 17): a proposal reads its quota group's counter instead of counting the province's
nominations; the counter follows every transition in the same transaction, so a quota is never exceeded, also
when many proposals race (real threads, SQLite and PostgreSQL), and always equals a fresh count."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.nominations import ALIVE_STATUSES, Nomination, NominationQuotaCount, RulesRefused
from tests.nominations.conftest import NOV_10, World, build_world
from tests.nominations.test_concurrency import race
from thidua.services import nominations as nom

FLAG = "co-thi-dua-ldld-tinh"  # quota co-tinh-moi-cap-tren: at most 1 per directly-superior union's subtree


@pytest.fixture
def six_world(any_engine) -> World:
    return build_world(any_engine, districts=2, cdcs_per_district=6)


def live_flags(world: World) -> int:
    with Session(world.engine) as session:
        return session.execute(
            select(func.count())
            .select_from(Nomination)
            .where(Nomination.award_code == FLAG, Nomination.status.in_([s.value for s in ALIVE_STATUSES]))
        ).scalar_one()  # type: ignore[attr-defined]


def counters(world: World) -> dict[tuple[str, int], int]:
    with Session(world.engine) as session:
        table = NominationQuotaCount.__table__  # type: ignore[attr-defined]
        return {(r.quota_key.split("#")[0], r.scope_id): r.live for r in session.execute(select(table)).all()}


def propose_flag(world: World, cdcs: str) -> object:
    return world.propose(cdcs, world.proposal(FLAG, cdcs), now=NOV_10)


def test_many_proposals_race_for_one_place_then_for_the_place_a_withdrawal_frees(six_world: World) -> None:
    world = six_world
    contenders = [f"BDH.D1.{i}" for i in range(1, 7)]
    outcomes = race(*[(lambda c=c: propose_flag(world, c)) for c in contenders])
    accepted = [(c, o) for c, o in zip(contenders, outcomes) if isinstance(o, list)]
    assert len(accepted) == 1 and all(isinstance(o, RulesRefused) for o in outcomes if not isinstance(o, list)), (
        outcomes
    )
    assert live_flags(world) == 1
    district = world.units["BDH.D1"]
    assert counters(world)[("co-tinh-moi-cap-tren", district)] == 1

    winner, (nomination_id,) = accepted[0]
    nom.withdraw(world.engine, world.campaign_id, nomination_id, world.actor(winner), now=NOV_10)
    assert counters(world)[("co-tinh-moi-cap-tren", district)] == 0
    others = [c for c in contenders if c != winner]
    outcomes = race(*[(lambda c=c: propose_flag(world, c)) for c in others])
    assert sum(isinstance(o, list) for o in outcomes) == 1, outcomes
    assert live_flags(world) == 1 and counters(world)[("co-tinh-moi-cap-tren", district)] == 1
    # The other district's group is its own: its first proposal is accepted.
    assert isinstance(propose_flag(world, "BDH.D2.1"), list)
    assert counters(world)[("co-tinh-moi-cap-tren", world.units["BDH.D2"])] == 1


def test_a_counter_lost_or_stale_is_counted_again(six_world: World) -> None:
    world = six_world
    propose_flag(world, "BDH.D1.1")
    table = NominationQuotaCount.__table__  # type: ignore[attr-defined]
    with world.engine.begin() as conn:  # e.g. a reorganisation or a unit import dropped the counters
        conn.execute(table.delete())
    with pytest.raises(RulesRefused, match="đã có 1"):  # counted from the nominations
        propose_flag(world, "BDH.D1.2")
    assert isinstance(propose_flag(world, "BDH.D2.1"), list)  # the counter written with an accepted proposal
    assert counters(world) == {("co-tinh-moi-cap-tren", world.units["BDH.D2"]): 1}


def test_a_unit_import_that_moves_units_drops_the_counters(world: World, tmp_path) -> None:  # noqa: ANN001
    from thidua.services.units import import_units
    from tests.units.helpers import unit_row, write_csv

    propose_flag(world, "BDH.D1.1")
    assert counters(world)
    with Session(world.engine) as session:
        from thidua.models.tables import Unit

        unit = session.execute(select(Unit).where(Unit.code == "BDH.D1.1")).scalar_one()  # type: ignore[arg-type]
        row = unit_row("BDH.D1.1", unit.name, "cdcs", "BDH.D2")
    import_units(world.engine, write_csv(tmp_path / "move.csv", [row]))
    assert counters(world) == {}
    # Counted again over the new tree: BDH.D1.1's flag now counts under BDH.D2.
    with pytest.raises(RulesRefused, match="đã có 1"):
        propose_flag(world, "BDH.D2.1")
