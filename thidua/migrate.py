"""Schema management. Alembic migrations are the source of truth once they exist; until then create_all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_REVISION_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+)$", re.MULTILINE)


def script_heads(versions: Path = MIGRATIONS_DIR / "versions") -> set[str] | None:
    """The head revisions of the migration scripts, read from their text (loading Alembic and every script costs
    ~0.3 s per command); None when a script does not declare them in the plain form."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        declared = dict(_REVISION_ASSIGNMENT.findall(path.read_text(encoding="utf-8")))
        try:
            revision = ast.literal_eval(declared["revision"].strip())
            down = ast.literal_eval(declared.get("down_revision", "None").strip())
        except (KeyError, ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        parents.update([down] if isinstance(down, str) else (down or ()))
    return (revisions - parents) or None


def _database_revisions(engine: Engine) -> set[str] | None:
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:  # no alembic_version table yet
        return None


def upgrade(engine: Engine) -> None:
    from thidua.db import all_metadata

    versions = MIGRATIONS_DIR / "versions"
    if versions.is_dir() and any(versions.glob("*.py")):
        heads = script_heads(versions)
        if heads is not None and _database_revisions(engine) == heads:
            return  # already current: every command calls this, so skip starting Alembic
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    else:
        all_metadata().create_all(engine)
