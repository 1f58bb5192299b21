"""Fixtures of the submissions suite: the Bình Định 2023 campaign loaded over a small synthetic tree."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from thidua.models.clock import local_to_utc
from thidua.models.submissions import ConsolidationSnapshot, Submission
from thidua.models.tables import Assignment, AuditLog, Unit
from tests.factories import small_binh_dinh
from thidua.db import create_schema, make_engine, session_scope
from thidua.services.campaigns import load_campaign
from thidua.settings import CONFIG_DIR

CODE = "bd-2023"
BINH_DINH_CAMPAIGN = CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml"
# The v1 file, before the báo cáo nhanh: its 31/8 target reads the round reports (tests of forecasts by periods)
V1_BINH_DINH_CAMPAIGN = Path(__file__).parent.parent / "campaigns" / "v1" / "binh_dinh_2023_v1.yaml"


@dataclass
class Loaded:
    engine: Engine
    units: dict[str, Unit]


def load_binh_dinh(
    engine: Engine, districts: int = 2, cdcs_per_district: int = 3, campaign: Path = BINH_DINH_CAMPAIGN
) -> Loaded:
    with session_scope(engine) as session:
        units = small_binh_dinh(session, districts=districts, cdcs_per_district=cdcs_per_district)
    load_campaign(engine, campaign)
    return Loaded(engine, units)


@pytest.fixture(scope="session")
def binh_dinh_db(tmp_path_factory) -> Path:
    """A SQLite file with the small tree and the campaign loaded, built once and copied per test."""
    path = tmp_path_factory.mktemp("binh-dinh") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    load_binh_dinh(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture
def loaded(binh_dinh_db: Path, tmp_path: Path):
    path = tmp_path / "thidua.db"
    shutil.copyfile(binh_dinh_db, path)
    engine = make_engine(f"sqlite:///{path}")
    with session_scope(engine) as session:
        units = {u.code: u for u in session.execute(select(Unit)).scalars()}
    yield Loaded(engine, units)
    engine.dispose()


def vn(day: int, month: int, year: int = 2023, hour: int = 9, minute: int = 0) -> datetime:
    """A wall-clock time in Việt Nam, as aware UTC."""
    return local_to_utc(datetime(year, month, day, hour, minute))


def db_state(engine: Engine) -> dict[str, Any]:
    """Everything a refused action must leave untouched."""
    with session_scope(engine) as session:
        assignments = session.execute(
            select(
                Assignment.id,
                Assignment.status,
                Assignment.version,
                Assignment.current_version,
                Assignment.submitted_at,
                Assignment.late,
            ).order_by(Assignment.id)
        ).all()
        return {
            "assignments": [tuple(a) for a in assignments],
            "submissions": session.execute(select(func.count()).select_from(Submission)).scalar_one(),
            "reviews": session.execute(
                select(Submission.id, Submission.review_status, Submission.appraised_rating).order_by(Submission.id)
            ).all(),
            "snapshots": session.execute(select(func.count()).select_from(ConsolidationSnapshot)).scalar_one(),
            "audit": session.execute(select(func.count()).select_from(AuditLog)).scalar_one(),
        }
