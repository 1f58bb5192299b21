"""Shared fixtures: a fresh database per test (SQLite file by default; PostgreSQL where asked)."""

from __future__ import annotations

import atexit
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# Prefect reads its settings once, at its import, which may come from any test: give its temporary server 180 s to
# start from the beginning (its default 20 s is too short when the suite's workers share two cores).
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
# The CLI reads COLUMNS once, at import; pytest-xdist's workers set it to 80. Tests that need a narrow terminal
# set it themselves, so every run (one process or several) starts from the same pipe width.
os.environ.pop("COLUMNS", None)

from thidua.notifications.sink import RunningSink, start_sink  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.settings import REPO_ROOT, Settings  # noqa: E402

CONFIG = REPO_ROOT / "config"
BINH_DINH_CAMPAIGN = CONFIG / "campaigns" / "binh_dinh_2023.yaml"
POSTGRES_ADMIN_URL = os.environ.get("THIDUA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """One SQLite file migrated once per test session; each test starts from a copy (migrating costs ~0.3 s)."""
    path = tmp_path_factory.mktemp("template") / "thidua.db"
    eng = make_engine(f"sqlite:///{path}")
    create_schema(eng)
    with eng.begin() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    eng.dispose()
    return path


@pytest.fixture
def engine(settings: Settings, migrated_sqlite_template: Path):
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated_sqlite_template, settings.data_dir / "thidua.db")
    eng = make_engine(settings.db_url)
    create_schema(eng)  # a no-op on the migrated copy, kept so the fixture states what it guarantees
    yield eng
    eng.dispose()


def postgres_available() -> str | None:
    """None when reachable, else the reason (printed by the skip)."""
    try:
        eng = create_engine(POSTGRES_ADMIN_URL)
        with eng.connect() as conn:
            conn.execute(text("select 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any failure means: skip with the reason
        return f"PostgreSQL không truy cập được tại {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}: {exc}"[:300]


_postgres_template: str | None = None  # this process's migrated template database, made on first use


def _postgres_url(database: str) -> str:
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + database


def _drop_postgres_template() -> None:
    if _postgres_template is None:
        return
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{_postgres_template}" WITH (FORCE)'))
    admin.dispose()


def _migrated_postgres_template(admin) -> str:  # noqa: ANN001
    """A database migrated once per test process; each test gets a copy (`CREATE DATABASE … TEMPLATE` takes
    ~0.1 s where migrating a fresh schema takes 1–3 s on the shared two cores)."""
    global _postgres_template
    if _postgres_template is None:
        name = f"thidua_mau_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        _postgres_template = name
        atexit.register(_drop_postgres_template)
        eng = make_engine(_postgres_url(name))
        create_schema(eng)
        eng.dispose()  # a template must have no open connection while it is copied
    return _postgres_template


@contextmanager
def fresh_postgres_schema() -> Iterator:
    """An engine on a new, migrated PostgreSQL database (a copy of this process's template), dropped afterwards.
    Skips (printing why) when PostgreSQL is unreachable."""
    reason = postgres_available()
    if reason:
        print(reason)
        pytest.skip(reason)
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    template = _migrated_postgres_template(admin)
    database = f"thidua_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}" TEMPLATE "{template}"'))
    eng = make_engine(_postgres_url(database))
    try:
        create_schema(eng)  # a no-op on the migrated copy, kept so the fixture states what it guarantees
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_engine():
    """A fresh schema in the PostgreSQL test database, dropped afterwards."""
    with fresh_postgres_schema() as eng:
        yield eng


@pytest.fixture
def sink_factory() -> Iterator[Callable[..., RunningSink]]:
    """start_sink(...) whose servers are stopped after the test."""
    started: list[RunningSink] = []

    def factory(handler: Any, **kwargs: Any) -> RunningSink:
        sink = start_sink(handler, **kwargs)
        started.append(sink)
        return sink

    yield factory
    for sink in started:
        sink.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def any_engine(request, settings: Settings):
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("engine")
    else:
        yield request.getfixturevalue("pg_engine")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop Prefect's temporary server (started by the flow tests) while the output is still open: its own atexit
    hook logs "Stopping temporary server" after pytest has closed the stream, a "Logging error" traceback in CI."""
    import sys

    server_module = sys.modules.get("prefect.server.api.server")
    if server_module is not None:
        for server in list(server_module.SubprocessASGIServer._instances.values()):
            server.stop()
