"""The hostile corpus (issue 10): one seeded SQLite database per test module, the CLI run in-process, and a
fingerprint of every table to show that a refused input changed nothing."""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import small_binh_dinh
from thidua.db import create_schema, make_engine
from thidua.models.tables import Unit
from thidua.services.campaigns import load_campaign
from thidua.settings import Settings, get_settings

BOX_DRAWING = re.compile("[\u2500-\u257f]")


def fingerprint(engine: Engine) -> str:
    """A digest of every row of every table: equal before and after means nothing changed."""
    digest = hashlib.sha256()
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            if table == "alembic_version":
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1')):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


@dataclass
class Corpus:
    engine: Engine
    data_dir: Path
    work: Path

    def run(self, *args: str):  # noqa: ANN201
        """The CLI in-process; returns (exit code, output with table borders removed, spaces collapsed)."""
        result = CliRunner().invoke(_app(), list(args))
        output = " ".join(BOX_DRAWING.sub(" ", result.output).split())
        return result.exit_code, output, result


def _app():  # noqa: ANN202
    from thidua.cli.main import app

    return app


@pytest.fixture(scope="session")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small Bình Định tree with its accounts and the 2023 campaign, built once."""
    folder = tmp_path_factory.mktemp("hostile")
    engine = make_engine(f"sqlite:///{folder / 'thidua.db'}")
    create_schema(engine)
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(engine, BINH_DINH_CAMPAIGN)
    engine.dispose()
    return folder / "thidua.db"


@pytest.fixture(scope="module")
def corpus(hostile_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    data_dir = tmp_path_factory.mktemp("du-lieu")
    shutil.copyfile(hostile_template, data_dir / "thidua.db")
    patch = pytest.MonkeyPatch()
    patch.setenv("THIDUA_DATA_DIR", str(data_dir))
    patch.delenv("THIDUA_DATABASE_URL", raising=False)
    patch.setenv("THIDUA_SECRET_KEY", "khoa-bi-mat-cua-bo-kiem-thu")
    get_settings.cache_clear()
    settings = Settings(data_dir=data_dir)
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        assert session.execute(select(Unit.id)).first() is not None
    yield Corpus(engine=engine, data_dir=data_dir, work=tmp_path_factory.mktemp("tep"))
    engine.dispose()
    patch.undo()
    get_settings.cache_clear()


# The web tests' seeded campaign (SQLite, and PostgreSQL for any_world), for the hostile requests.
from tests.web.conftest import any_world, world, world_template  # noqa: E402,F401
