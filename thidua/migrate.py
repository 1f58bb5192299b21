"""Schema management. Alembic migrations are the source of truth once they exist; until then create_all."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def upgrade(engine: Engine) -> None:
    from thidua.db import all_metadata

    versions = MIGRATIONS_DIR / "versions"
    if versions.is_dir() and any(versions.glob("*.py")):
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    else:
        all_metadata().create_all(engine)
