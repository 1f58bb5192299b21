"""Conflicting actions on one nomination from real threads, on SQLite and PostgreSQL: exactly one transition
happens and the other actor gets a clear conflict error (optimistic version column); two proposals racing
for the last place of a quota end with one accepted and one refused (the campaign's nomination lock)."""

from __future__ import annotations

import threading
from typing import Callable

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.nominations import NominationConflict, NominationStep, RulesRefused
from thidua.models.tables import AuditLog
from tests.nominations.conftest import DEC_02, NOV_10, World, build_world
from thidua.services import nominations as nom

ROUNDS = 3


@pytest.fixture
def shared_world(any_engine) -> World:
    return build_world(any_engine)


def race(*calls: Callable[[], object]) -> list[object]:
    """Start the calls together in threads; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            outcomes[index] = call()
        except Exception as exc:  # the outcome under test
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def step_and_audit_counts(world: World, nomination_id: int) -> tuple[int, int]:
    with Session(world.engine) as session:
        steps = session.execute(
            select(func.count()).select_from(NominationStep).where(NominationStep.nomination_id == nomination_id)
        ).scalar_one()  # type: ignore[arg-type]
        audits = session.execute(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.entity == "nomination", AuditLog.entity_id == str(nomination_id))
        ).scalar_one()  # type: ignore[arg-type]
    return steps, audits


def assert_one_winner(world: World, nomination_id: int, before: tuple[int, int], outcomes: list[object]) -> int:
    conflicts = [o for o in outcomes if isinstance(o, NominationConflict)]
    winners = [i for i, o in enumerate(outcomes) if not isinstance(o, Exception)]
    assert len(winners) == 1 and len(conflicts) == len(outcomes) - 1, outcomes
    assert "hãy tải lại" in str(conflicts[0]).lower()
    assert step_and_audit_counts(world, nomination_id) == (before[0] + 1, before[1] + 1)
    return winners[0]


def test_two_reviewers_of_one_unit_act_at_once(shared_world: World) -> None:
    world = shared_world
    for n in range(ROUNDS):
        cdcs = f"BDH.D1.{n + 1}"  # one proposer per round: the per-proposer quota stays clear
        (nid,) = world.propose(
            cdcs, world.proposal("bang-khen-ldld-tinh", cdcs, person=f"Người thứ {n}"), send=f"{n}/TTr"
        )
        seen = world.view(nid).version
        before = step_and_audit_counts(world, nid)
        outcomes = race(
            lambda: nom.approve(
                world.engine,
                world.campaign_id,
                [nid],
                world.actor("BDH.D1", "a@ldld"),
                expected_versions={nid: seen},
                rating=world.rating,
                now=DEC_02,
            ),
            lambda: nom.return_for_revision(
                world.engine,
                world.campaign_id,
                [nid],
                world.actor("BDH.D1", "b@ldld"),
                comment="Bổ sung hồ sơ",
                expected_versions={nid: seen},
                now=DEC_02,
            ),
        )
        winner = assert_one_winner(world, nid, before, outcomes)
        assert world.view(nid).status == ("approved" if winner == 0 else "returned")
        assert world.view(nid).version == seen + 1
        if winner == 0:  # leave the list empty for the next round
            nom.reject(world.engine, world.campaign_id, [nid], world.actor("BDH.D1"), comment="dọn", now=DEC_02)


def test_withdrawal_during_approval(shared_world: World) -> None:
    world = shared_world
    for n in range(ROUNDS):
        cdcs = f"BDH.D2.{n + 1}"
        (nid,) = world.propose(cdcs, world.proposal("bang-khen-ldld-tinh", cdcs, person=f"Cán bộ {n}"), send=f"{n}/TTr")
        seen = world.view(nid).version
        before = step_and_audit_counts(world, nid)
        outcomes = race(
            lambda: nom.approve(
                world.engine,
                world.campaign_id,
                [nid],
                world.actor("BDH.D2"),
                expected_versions={nid: seen},
                rating=world.rating,
                now=DEC_02,
            ),
            lambda: nom.withdraw(
                world.engine,
                world.campaign_id,
                nid,
                world.actor(cdcs),
                comment="Rút",
                expected_version=seen,
                now=DEC_02,
            ),
        )
        winner = assert_one_winner(world, nid, before, outcomes)
        assert world.view(nid).status == ("approved" if winner == 0 else "withdrawn")
        if winner == 0:
            nom.reject(world.engine, world.campaign_id, [nid], world.actor("BDH.D2"), comment="dọn", now=DEC_02)


def test_version_column_alone_settles_a_race(shared_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even without the campaign lock, UPDATE … WHERE id = ? AND version = ? lets exactly one through."""
    world = shared_world
    (nid,) = world.propose("BDH.D1.2", world.proposal("cdcs-vung-manh", "BDH.D1.2"), send="1/TTr")
    monkeypatch.setattr(nom.context, "_lock", lambda session, campaign_id: None)  # the lock lives with the context
    seen = world.view(nid).version
    before = step_and_audit_counts(world, nid)
    outcomes = race(
        *[
            (
                lambda who=who: nom.reject(
                    world.engine,
                    world.campaign_id,
                    [nid],
                    world.actor("BDH.D1", who),
                    comment=f"Lý do của {who}",
                    expected_versions={nid: seen},
                    now=DEC_02,
                )
            )
            for who in ("a@ldld", "b@ldld", "c@ldld")
        ]
    )
    assert_one_winner(world, nid, before, outcomes)


def test_two_proposals_race_for_the_last_place_of_a_quota(shared_world: World) -> None:
    world = shared_world
    outcomes = race(
        lambda: world.propose("BDH.D1.1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.1"), now=NOV_10),
        lambda: world.propose("BDH.D1.2", world.proposal("co-thi-dua-ldld-tinh", "BDH.D1.2"), now=NOV_10),
    )
    refusals = [o for o in outcomes if isinstance(o, RulesRefused)]
    accepted = [o for o in outcomes if isinstance(o, list)]
    assert len(refusals) == 1 and len(accepted) == 1, outcomes
    assert "tối đa 1 đề nghị Cờ thi đua của LĐLĐ tỉnh" in str(refusals[0]) and str(refusals[0]).endswith("đã có 1")
    alive = nom.list_nominations(world.engine, world.campaign_id, award_code="co-thi-dua-ldld-tinh")
    assert [v.id for v in alive] == accepted[0]
