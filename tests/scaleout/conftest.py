"""Fixtures of the scale-out suite: a Bình Định-shaped tree of a few thousand CĐCS inserted with Core (the
ORM factories would take too long at this size), the real 2023 campaign over it, and a counting SMTP sink."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.clock import local_to_utc, utcnow
from thidua.models.tables import Unit
from thidua.notifications.sink import CountingHandler, RunningSink, start_sink
from thidua.notifications.transport import SmtpSettings
from tests.factories import seed_levels
from thidua.services.campaigns import load_campaign
from thidua.settings import CONFIG_DIR

CODE = "bd-2023"
# Tue 03/10/2023 09:00: the −7 reminder of "sơ kết đợt 2" (due 10/10) is due for every unit that owes it.
ROUND_2_MINUS_7 = local_to_utc(datetime(2023, 10, 3, 9, 0))


def insert_tree(engine: Engine, *, districts: int, cdcs_per_district: int) -> int:
    """TLD → BDH → BDH.Dd → BDH.Dd.k (one address each, alternating sectors); returns the number of units."""
    U = Unit.__table__  # type: ignore[attr-defined]
    now = utcnow()
    rows: list[dict] = []

    def add(code: str, name: str, level: str, parent: dict | None, sector: str | None = None) -> dict:
        unit_id = len(rows) + 1
        path = (parent["path"] if parent else "") + f"{unit_id:08d}."
        row = {
            "id": unit_id,
            "code": code,
            "name": name,
            "level_code": level,
            "parent_id": parent["id"] if parent else None,
            "path": path,
            "depth": path.count(".") - 1,
            "sector": sector,
            "emails": [f"{code.lower().replace('.', '-')}@example.vn"],
            "active": True,
            "cluster": None,
            "updated_at": now,
        }
        rows.append(row)
        return row

    tld = add("TLD", "Tổng Liên đoàn Lao động Việt Nam", "tong_ldld", None)
    province = add("BDH", "Liên đoàn Lao động tỉnh Bình Định", "ldld_tinh", tld)
    for d in range(1, districts + 1):
        district = add(f"BDH.D{d}", f"LĐLĐ huyện Thử Nghiệm {d}", "cap_tren_truc_tiep", province)
        for k in range(1, cdcs_per_district + 1):
            add(f"BDH.D{d}.{k}", f"CĐCS Đơn vị Mẫu {d}-{k} (giả lập)", "cdcs", district, "sxkd" if k % 2 else "hcsn")
    with Session(engine) as session, session.begin():
        seed_levels(session)
        session.execute(insert(U), rows)
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequence past them
            session.execute(text("SELECT setval(pg_get_serial_sequence('unit', 'id'), :n)"), {"n": len(rows)})
    return len(rows)


def load_bd_campaign(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "config" / "campaigns"
    folder.mkdir(parents=True)
    path = folder / "bd.yaml"
    shutil.copy(CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml", path)
    load_campaign(engine, path)


def count(engine: Engine, statement) -> int:  # noqa: ANN001
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(statement)).scalar_one()


@pytest.fixture
def counting_sink() -> Iterator[RunningSink]:
    sink = start_sink(CountingHandler(keep_message_ids=True))
    yield sink
    sink.stop()


def smtp_for(sink: RunningSink, **overrides) -> SmtpSettings:  # noqa: ANN003
    options = dict(
        host=sink.host,
        port=sink.port,
        sender="thidua@ldld.binhdinh.vn",
        sender_name="Hệ thống thi đua LĐLĐ tỉnh",
        timeout_s=10.0,
        connections=2,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        local_hostname="worker.thidua.test",
    )
    options.update(overrides)
    return SmtpSettings(**options)
