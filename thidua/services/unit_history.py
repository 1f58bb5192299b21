"""The unit tree as of a date, read from the current rows and the closed unit versions.

units_as_of(day)            selectable (unit_id, code, name, level_code, parent_id, path, depth, active, sector):
                            every unit as it stood on `day` (a unit created later is absent)
unit_as_of(session, code, day)
children_as_of(session, unit_id, day)
ancestors_as_of(session, unit_id, day)
unit_versions(session, unit_id)   the unit's history, oldest first (the current row last)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, literal, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from thidua.models.hierarchy import path_ids, subtree_upper_bound
from thidua.models.tables import Unit
from thidua.models.unit_history import UnitVersion

U = Unit.__table__  # type: ignore[attr-defined]
V = UnitVersion.__table__  # type: ignore[attr-defined]
AS_OF_COLUMNS = ("code", "name", "level_code", "parent_id", "path", "depth", "active", "sector")


def units_as_of(day: date, *, path_range: tuple[str, str] | None = None) -> Subquery:
    """Units as they stood on `day`: the current row where it already held, else the version covering the
    day. `path_range` [low, high) filters both branches (so each uses its path index)."""
    current_where: list[Any] = [or_(U.c.valid_from.is_(None), U.c.valid_from <= day)]
    version_where: list[Any] = [or_(V.c.valid_from.is_(None), V.c.valid_from <= day), V.c.valid_to > day]
    if path_range is not None:
        low, high = path_range
        current_where += [U.c.path >= low, U.c.path < high]
        version_where += [V.c.path >= low, V.c.path < high]
    current = select(U.c.id.label("unit_id"), *(U.c[name] for name in AS_OF_COLUMNS)).where(*current_where)
    past = select(V.c.unit_id, *(V.c[name] for name in AS_OF_COLUMNS)).where(*version_where)
    return union_all(current, past).subquery("unit_as_of")


@dataclass(frozen=True)
class UnitAsOf:
    id: int
    code: str
    name: str
    level_code: str
    parent_id: int | None
    path: str
    depth: int
    active: bool
    sector: str | None


def _rows(session: Session, query) -> list[UnitAsOf]:  # noqa: ANN001
    return [UnitAsOf(*row) for row in session.execute(query)]


def unit_as_of(session: Session, code: str, day: date) -> UnitAsOf | None:
    view = units_as_of(day)
    found = _rows(session, select(view).where(view.c.code == code))
    return found[0] if found else None


def unit_by_id_as_of(session: Session, unit_id: int, day: date) -> UnitAsOf | None:
    view = units_as_of(day)
    found = _rows(session, select(view).where(view.c.unit_id == unit_id))
    return found[0] if found else None


def children_as_of(session: Session, unit_id: int, day: date) -> list[UnitAsOf]:
    view = units_as_of(day)
    return _rows(session, select(view).where(view.c.parent_id == unit_id).order_by(view.c.code))


def ancestors_as_of(session: Session, unit: UnitAsOf, day: date) -> list[UnitAsOf]:
    chain = path_ids(unit.path)[:-1]
    if not chain:
        return []
    view = units_as_of(day)
    return _rows(session, select(view).where(view.c.unit_id.in_(chain)).order_by(view.c.depth))


def subtree_as_of(session: Session, unit: UnitAsOf, day: date) -> list[UnitAsOf]:
    view = units_as_of(day, path_range=(unit.path, subtree_upper_bound(unit.path)))
    return _rows(session, select(view).order_by(view.c.path))


@dataclass(frozen=True)
class VersionRow:
    valid_from: date | None
    valid_to: date | None  # None: the current row
    code: str
    name: str
    level_code: str
    parent_code: str | None
    active: bool


def unit_versions(session: Session, unit_id: int) -> list[VersionRow]:
    """The unit's versions oldest first, the current row last (valid_to None)."""
    parent = U.alias("parent")
    past = session.execute(
        select(V.c.valid_from, V.c.valid_to, V.c.code, V.c.name, V.c.level_code, parent.c.code, V.c.active)
        .select_from(V.outerjoin(parent, parent.c.id == V.c.parent_id))
        .where(V.c.unit_id == unit_id)
        .order_by(V.c.valid_to)
    ).all()
    current = session.execute(
        select(U.c.valid_from, literal(None), U.c.code, U.c.name, U.c.level_code, parent.c.code, U.c.active)
        .select_from(U.outerjoin(parent, parent.c.id == U.c.parent_id))
        .where(U.c.id == unit_id)
    ).all()
    return [VersionRow(*row) for row in [*past, *current]]


def in_range(column, low: str, high: str):  # noqa: ANN001, ANN201
    return and_(column >= low, column < high)


def scope_as_of(session: Session, day: date, *, unit_code: str | None, root_unit_id: int) -> UnitAsOf | None:
    """The unit named by `unit_code` as of `day`, or the campaign's root as it stood then. A root created
    after `day` by a reorganisation is replaced by the lowest common ancestor of its predecessors then."""
    if unit_code:
        return unit_as_of(session, unit_code, day)
    root = unit_by_id_as_of(session, root_unit_id, day)
    if root is not None:
        return root
    from thidua.models.unit_history import ReorganisationStep

    RS = ReorganisationStep.__table__  # type: ignore[attr-defined]
    frontier, predecessors = {root_unit_id}, []
    while frontier:  # follow successions backwards until units that existed on `day`
        rows = (
            session.execute(select(RS.c.unit_id).where(RS.c.kind == "ended", RS.c.successor_unit_id.in_(frontier)))
            .scalars()
            .all()
        )
        frontier = set()
        for unit_id in rows:
            unit = unit_by_id_as_of(session, unit_id, day)
            if unit is not None:
                predecessors.append(unit)
            else:
                frontier.add(unit_id)
    if not predecessors:
        return None
    common = predecessors[0].path
    for unit in predecessors[1:]:
        while not unit.path.startswith(common):
            common = common[:-9]
    if not common:
        return None
    return unit_by_id_as_of(session, path_ids(common)[-1], day)
