"""The transaction convention (thidua/db.py): a write use case owns its unit of work; an outer unit of work
combines several into one transaction; bootstrap() builds the process's parts once."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from tests.factories import small_binh_dinh
from thidua.bootstrap import bootstrap, ready_engine
from thidua.db import session_scope, unit_of_work
from thidua.errors import InvalidFields
from thidua.models.tables import AuditLog, User
from thidua.services.accounts import add_user

NOW = datetime(2023, 10, 5, 3, 0, tzinfo=timezone.utc)


@pytest.fixture
def tree(engine):
    with session_scope(engine) as session:
        small_binh_dinh(session)
    return engine


def users(engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.execute(select(User.email)).scalars())


def test_a_write_use_case_commits_by_itself(tree) -> None:
    with Session(tree) as session:  # the caller never commits (as a web route)
        add_user(session, email="a@example.vn", unit_code="BDH.D1", role="reviewer", actor="kiem-thu", now=NOW)
    assert users(tree) == ["a@example.vn"]


def test_a_refused_write_leaves_nothing_and_the_session_usable(tree) -> None:
    with Session(tree) as session:
        with pytest.raises(InvalidFields) as refused:
            add_user(session, email="khong-phai-email", unit_code="BDH.D1", role="reviewer", actor="t", now=NOW)
        assert set(refused.value.errors) == {"email"}
        add_user(session, email="b@example.vn", unit_code="BDH.D1", role="reviewer", actor="t", now=NOW)
    assert users(tree) == ["b@example.vn"]
    with Session(tree) as session:
        assert (
            session.execute(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "user.created")
            ).scalar_one()
            == 1
        )


def test_an_outer_unit_of_work_makes_several_writes_one_transaction(tree) -> None:
    with Session(tree) as session:
        with pytest.raises(InvalidFields):
            with unit_of_work(session):
                add_user(session, email="c@example.vn", unit_code="BDH.D1", role="reviewer", actor="t", now=NOW)
                add_user(session, email="d@example.vn", unit_code="KHONG-CO", role="reviewer", actor="t", now=NOW)
    assert users(tree) == []  # the first add was not committed on its own
    with session_scope(tree) as session:
        add_user(session, email="c@example.vn", unit_code="BDH.D1", role="reviewer", actor="t", now=NOW)
        add_user(session, email="d@example.vn", unit_code="BDH.D2", role="reviewer", actor="t", now=NOW)
    assert users(tree) == ["c@example.vn", "d@example.vn"]


def test_bootstrap_builds_a_migrated_engine_and_the_parts(settings) -> None:
    runtime = bootstrap(settings)
    with Session(runtime.engine) as session:
        assert session.execute(select(func.count()).select_from(User)).scalar_one() == 0  # schema is there
    assert runtime.links.settings is settings and runtime.renderer is not None
    assert runtime.smtp.host == settings.smtp_host
    assert ready_engine(settings) is runtime.engine  # one engine per database URL in a process
