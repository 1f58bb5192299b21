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
    assert {"unit", "campaign", "assignment", "submission", "nomination", "outbox", "auditlog", "alembic_version"} <= tables
