"""Alembic environment: the same migrations for SQLite and PostgreSQL; the connection comes from the caller
(thidua.migrate.upgrade) or from THIDUA_DATABASE_URL / the default SQLite file when run as `alembic`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from thidua.db import all_metadata, make_engine
from thidua.settings import get_settings

target_metadata = all_metadata()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = make_engine(get_settings().db_url)
    engine.pool = pool.NullPool(engine.pool._creator)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        _run(conn)
