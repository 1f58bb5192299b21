"""Tree queries: path-range results compared with a brute-force walk of parent links."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session

from thidua.models.hierarchy import path_prefix_len, subtree_upper_bound
from thidua.models.tables import Unit
from tests.units.helpers import module_engine, random_tree_rows, write_csv
from thidua.services.units import (
    ancestor_at_level,
    ancestor_id_at,
    ancestor_prefix,
    ancestors,
    children,
    import_units,
    level_depths,
    load_levels,
    subtree_clause,
    subtree_ids,
)

LEVELS = [f"c{i}" for i in range(6)]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def tree(request, tmp_path_factory):
    """A random forest of 2,000 units over 6 levels, and its parent links by id (built once per engine;
    the tests only read it)."""
    directory = tmp_path_factory.mktemp("tree")
    with module_engine(request.param, directory) as engine:
        levels = directory / "levels.yaml"
        levels.write_text("levels:\n" + "".join(f"  - {{code: {c}, name: Cấp {c}}}\n" for c in LEVELS), "utf-8")
        load_levels(engine, levels)
        rows = random_tree_rows(seed=2023, count=2000, level_codes=LEVELS)
        import_units(engine, write_csv(directory / "tree.csv", rows))
        with engine.connect() as conn:
            stored = conn.execute(select(Unit.id, Unit.parent_id, Unit.level_code, Unit.depth)).all()
        yield engine, {r.id: r for r in stored}


def brute_ancestors(units, unit_id) -> list[int]:
    """Parent chain walked in Python, nearest first."""
    chain = []
    parent = units[unit_id].parent_id
    while parent is not None:
        chain.append(parent)
        parent = units[parent].parent_id
    return chain


def test_subtree_ids_match_brute_force(tree):
    engine, units = tree
    expected = defaultdict(set)
    for unit_id in units:
        expected[unit_id].add(unit_id)
        for ancestor in brute_ancestors(units, unit_id):
            expected[ancestor].add(unit_id)

    with Session(engine) as session:
        for unit_id in units:
            found = subtree_ids(session, unit_id)
            assert len(found) == len(expected[unit_id]) and set(found) == expected[unit_id], unit_id
        some = max(units, key=lambda i: len(expected[i]))
        assert set(subtree_ids(session, some, include_self=False)) == expected[some] - {some}


def test_group_by_ancestor_prefix_and_id(tree):
    engine, units = tree
    depth = 1
    expected = Counter()
    for unit_id, unit in units.items():
        if unit.depth >= depth:
            root_first = [*reversed(brute_ancestors(units, unit_id)), unit_id]
            expected[root_first[depth]] += 1

    with Session(engine) as session:
        by_id = dict(
            session.execute(
                select(ancestor_id_at(depth), func.count()).where(Unit.depth >= depth).group_by(ancestor_id_at(depth))
            ).all()
        )
        by_prefix = dict(
            session.execute(
                select(ancestor_prefix(depth), func.count()).where(Unit.depth >= depth).group_by(ancestor_prefix(depth))
            ).all()
        )

    assert by_id == expected
    assert {int(prefix[-9:-1]): n for prefix, n in by_prefix.items()} == expected
    assert all(len(prefix) == path_prefix_len(depth) for prefix in by_prefix)


def test_roll_up_to_a_level_found_at_several_depths(tree):
    engine, units = tree
    level = "c2"  # random parents put this level at depths 1 and 2
    expected = Counter()
    for unit_id in units:
        nearest = next((a for a in [unit_id, *brute_ancestors(units, unit_id)] if units[a].level_code == level), None)
        if nearest is not None:
            expected[nearest] += 1

    found = Counter()
    with Session(engine) as session:
        depths = level_depths(session, level)
        assert len(depths) > 1
        for depth in depths:
            anchor = ancestor_id_at(depth)
            of_level = select(Unit.id).where(Unit.level_code == level, Unit.depth == depth)
            query = select(anchor, func.count()).where(Unit.depth >= depth, anchor.in_(of_level)).group_by(anchor)
            found.update(dict(session.execute(query).all()))

    assert found == expected


def test_ancestors_children_and_ancestor_at_level(tree):
    engine, units = tree
    kids = defaultdict(set)
    for unit_id, unit in units.items():
        kids[unit.parent_id].add(unit_id)
    with Session(engine) as session:
        for unit_id in list(units)[::25]:
            chain = brute_ancestors(units, unit_id)
            assert [u.id for u in ancestors(session, unit_id)] == list(reversed(chain))
            assert {u.id for u in children(session, unit_id)} == kids[unit_id]
            for level in LEVELS:
                nearest = next((a for a in [unit_id, *chain] if units[a].level_code == level), None)
                found = ancestor_at_level(session, unit_id, level)
                assert (found.id if found else None) == nearest


def test_subtree_clause_uses_the_path_index(tree):
    engine, _ = tree
    path = "00000001."
    query = select(Unit.id).where(subtree_clause(path))
    with engine.connect() as conn:
        sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        else:
            conn.execute(text("SET enable_seqscan = off"))  # a tiny table would be scanned anyway
            plan = " ".join(row[0] for row in conn.execute(text("EXPLAIN " + sql)))
    assert "ix_unit_path" in plan


def test_upper_bound_is_collation_proof(pg_engine):
    """Why the bound is the next sibling id: with an ICU Vietnamese collation `|| '~'` loses descendants."""
    with pg_engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_collation WHERE collname = 'vi-x-icu'")).first():
            pytest.skip("PostgreSQL không có collation vi-x-icu")
        child, parent = "00000001.00000017.00000020.", "00000001.00000017."
        check = 'SELECT CAST(:c AS text) COLLATE "vi-x-icu" >= :p AND CAST(:c AS text) COLLATE "vi-x-icu" < :u'
        assert conn.execute(text(check), {"c": child, "p": parent, "u": subtree_upper_bound(parent)}).scalar()
        assert not conn.execute(text(check), {"c": child, "p": parent, "u": parent + "~"}).scalar()


def test_upper_bound_values():
    assert subtree_upper_bound("00000001.") == "00000002."
    assert subtree_upper_bound("00000001.00000099.") == "00000001.00000100."
