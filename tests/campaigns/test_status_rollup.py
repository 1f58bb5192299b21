"""Status roll-up over the tree, checked against a brute-force count that walks parent links."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlmodel import Session
from typer.testing import CliRunner

from thidua.models.tables import Assignment, Unit
from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import small_binh_dinh
from thidua.services.campaigns import load_campaign
from thidua.services.status import NotFound, status_report, upcoming_deadlines

NOW = datetime(2023, 10, 12, 3, 0, tzinfo=timezone.utc)


def _scramble(any_engine):
    """Bình Định campaign on 4 districts × 7 CĐCS with random statuses and submission times."""
    with Session(any_engine) as session:
        small_binh_dinh(session, districts=4, cdcs_per_district=7)
        session.commit()
    load_campaign(any_engine, BINH_DINH_CAMPAIGN)
    rng = random.Random(7)
    with Session(any_engine) as session:
        for a in session.exec(select(Assignment)).scalars().all():
            status = rng.choice(["chua_gui", "da_gui", "da_duyet", "tra_lai"])
            submitted_at = None if status == "chua_gui" else a.due_at + timedelta(days=rng.randint(-5, 5))
            session.execute(
                update(Assignment)
                .where(Assignment.id == a.id)
                .values(status=status, submitted_at=submitted_at, late=bool(submitted_at and submitted_at > a.due_at))
            )
        session.commit()
    return any_engine


@pytest.fixture
def scrambled(any_engine):
    return _scramble(any_engine)


@pytest.fixture
def scrambled_sqlite(engine):
    return _scramble(engine)


def _brute_force(session: Session, scope_code: str):
    units = {u.id: u for u in session.exec(select(Unit)).scalars().all()}
    scope = next(u for u in units.values() if u.code == scope_code)

    def child_of_scope(unit: Unit) -> Unit | None:
        """Walk parent links up to the scope; the unit just below it is the group."""
        current, below = unit, None
        while current is not None:
            if current.id == scope.id:
                return below
            below, current = current, units.get(current.parent_id) if current.parent_id else None
        return None

    groups: dict[str, list[int]] = {}
    for a in session.exec(select(Assignment).where(Assignment.active.is_(True))).scalars().all():
        unit = units[a.unit_id]
        group = child_of_scope(unit)
        if group is None and unit.id != scope.id:
            continue
        # the scope's own obligations count in its total, under its own code
        counts = groups.setdefault(group.code if group else scope.code, [0, 0, 0, 0, 0])
        submitted = a.status in ("da_gui", "da_duyet")
        counts[0] += 1
        counts[1] += submitted
        counts[2] += a.status == "da_duyet"
        counts[3] += a.status == "tra_lai"
        due_at = a.due_at if a.due_at.tzinfo else a.due_at.replace(tzinfo=timezone.utc)
        counts[4] += bool((submitted and a.late) or (not submitted and due_at < NOW))  # nộp muộn + quá hạn
    return groups


@pytest.mark.parametrize("scope", ["BDH", "BDH.D3"])
def test_rollup_matches_brute_force(scrambled, scope):
    with Session(scrambled) as session:
        report = status_report(session, "bd-2023", unit_code=scope, now=NOW)
        expected = _brute_force(session, scope)
    got = {
        row.key: [row.counts.owed, row.counts.submitted, row.counts.accepted, row.counts.returned, row.counts.late]
        for row in report.by_group
    }
    own = expected.pop(scope, [0] * 5)
    assert got == expected
    totals = [sum(column) for column in zip(own, *expected.values())]
    t = report.total
    assert [t.owed, t.submitted, t.accepted, t.returned, t.late] == totals
    assert sum(r.counts.owed for r in report.by_level) == report.total.owed


def test_status_filters_and_errors(scrambled):
    with Session(scrambled) as session:
        cdcs_only = status_report(session, "bd-2023", level="cdcs", now=NOW)
        assert [row.key for row in cdcs_only.by_level] == ["cdcs"]
        assert cdcs_only.total.owed == 4 * 7 * 6
        one = status_report(session, "bd-2023", obligation_code="so-ket-dot-2", now=NOW)
        assert one.total.owed == 4 * 8
        for kwargs in ({"unit_code": "KHONG"}, {"level": "khong"}, {"obligation_code": "khong"}):
            with pytest.raises(NotFound):
                status_report(session, "bd-2023", now=NOW, **kwargs)
        with pytest.raises(NotFound):
            status_report(session, "khong-co", now=NOW)


def test_upcoming_deadlines_lists_only_what_is_still_owed(scrambled):
    with Session(scrambled) as session:
        items = upcoming_deadlines(session, "bd-2023", days=10, today=NOW.date() - timedelta(days=5))
        assert items and all(item.status in ("chua_gui", "tra_lai") for item in items)
        assert {item.obligation_code for item in items} == {"so-ket-dot-2"}


def test_cli_status_and_plan(scrambled_sqlite, settings, monkeypatch):
    from thidua.cli.main import app

    monkeypatch.setenv("THIDUA_DATABASE_URL", str(scrambled_sqlite.url))
    from thidua.settings import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    result = runner.invoke(app, ["status", "bd-2023", "--now", "12/10/2023 10:00"])
    assert result.exit_code == 0, result.output
    assert "Theo đơn vị trực thuộc" in result.output and "LĐLĐ huyện Thử Nghiệm 3" in result.output
    result = runner.invoke(app, ["plan", "bd-2023", "--today", "05/10/2023", "--days", "10"])
    assert result.exit_code == 0 and "10/10/2023" in result.output
    result = runner.invoke(app, ["status", "bd-2023", "--unit", "KHONG"])
    assert result.exit_code == 1 and "không có đơn vị mã 'KHONG'" in result.output
    result = runner.invoke(app, ["plan", "bd-2023", "--today", "31/02/2023"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    get_settings.cache_clear()


def test_status_table_clauses_name_real_columns_of_the_models():
    """The roll-ups read through name-only table clauses (no ORM at start-up); they must match the models."""
    from sqlalchemy.types import NullType

    from thidua.db import all_metadata
    from thidua.services import status

    tables = all_metadata().tables
    for clause in (status.ASSIGNMENT, status.SUBMISSION, status.UNIT, status.CAMPAIGN, status.LEVEL, status.OBLIGATION):
        model = tables[clause.name]
        for col in clause.columns:
            assert col.name in model.c, f"{clause.name}.{col.name} is not a column of the model"
            if not isinstance(col.type, NullType):  # typed where results or binds need the type
                assert col.type._type_affinity is model.c[col.name].type._type_affinity, f"{clause.name}.{col.name}"
