"""The Alembic migrations are the schema, on SQLite and PostgreSQL alike, and match the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from thidua.db import all_metadata, create_schema


def test_migrations_build_the_model_schema(any_engine):
    create_schema(any_engine)  # the fixture already upgraded: a second upgrade must be a no-op
    with any_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() is not None
        diff = compare_metadata(context, all_metadata())
    assert diff == [], f"models and migrations differ: {diff}"
    tables = set(inspect(any_engine).get_table_names())
    assert {
        "unit",
        "campaign",
        "assignment",
        "submission",
        "nomination",
        "outbox",
        "auditlog",
        "alembic_version",
    } <= tables


def test_heads_read_from_the_scripts_are_alembics_heads():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from thidua.migrate import MIGRATIONS_DIR, script_heads

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert script_heads() == set(ScriptDirectory.from_config(cfg).get_heads())


def test_a_current_database_skips_alembic_and_an_older_one_is_upgraded(engine, monkeypatch):
    import alembic.command
    from alembic.config import Config

    from thidua.migrate import MIGRATIONS_DIR, script_heads

    calls = []
    real_upgrade = alembic.command.upgrade
    monkeypatch.setattr(alembic.command, "upgrade", lambda *a, **k: (calls.append(a[1]), real_upgrade(*a, **k)))
    create_schema(engine)
    assert calls == []  # at head: no Alembic start-up on every command
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        alembic.command.downgrade(cfg, "-1")
    create_schema(engine)
    assert calls == ["head"]
    with engine.connect() as conn:
        assert {r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")} == script_heads()
