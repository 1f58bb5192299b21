"""Helpers for the unit hierarchy tests: writing small unit files and snapshotting the database."""

from __future__ import annotations

import csv
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from openpyxl import Workbook
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from thidua.models.hierarchy import child_path
from thidua.models.tables import AuditLog, Level, Unit
from tests.conftest import fresh_postgres_schema
from thidua.db import create_schema, make_engine

ASCII_HEADER = ("ma_don_vi", "ten_don_vi", "cap", "ma_cap_tren", "khu_vuc", "email", "hoat_dong", "cum_thi_dua")


def write_csv(
    path: Path,
    rows: Iterable[Sequence[Any]],
    header: Sequence[str] = ASCII_HEADER,
    *,
    bom: bool = False,
    delimiter: str = ",",
) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows: Iterable[Sequence[Any]], header: Sequence[str] = ASCII_HEADER) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path


def unit_row(
    code: str,
    name: str,
    level: str,
    parent: str = "",
    sector: str = "",
    email: str = "",
    active: str = "",
    cluster: str = "",
) -> tuple[str, ...]:
    return (code, name, level, parent, sector, email, active, cluster)


# A small province: BDH (ldld_tinh) -> two districts -> CĐCS. TLD is the root.
BASE_ROWS = [
    unit_row("TLD", "Tổng Liên đoàn Lao động Việt Nam", "tong_ldld"),
    unit_row("BDH", "LĐLĐ tỉnh Bình Định", "ldld_tinh", "TLD", email="vanphong@ldld.binhdinh.vn"),
    unit_row("PYN", "LĐLĐ tỉnh Phú Yên", "ldld_tinh", "TLD"),
    unit_row("BDH.QNH", "LĐLĐ thành phố Quy Nhơn", "cap_tren_truc_tiep", "BDH", cluster="Cụm 1"),
    unit_row("BDH.ANH", "LĐLĐ thị xã An Nhơn", "cap_tren_truc_tiep", "BDH", cluster="Cụm 1"),
    unit_row("BDH.QNH.01", "CĐCS Công ty Mẫu số 01 (giả lập)", "cdcs", "BDH.QNH", "sxkd", "a@cdcs01.example.vn"),
    unit_row("BDH.QNH.02", "CĐCS Trường Mẫu số 02 (giả lập)", "cdcs", "BDH.QNH", "hcsn", "b@cdcs02.example.vn"),
    unit_row("BDH.ANH.01", "CĐCS Công ty Mẫu số 03 (giả lập)", "cdcs", "BDH.ANH", "sxkd"),
]


def dump(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of the tables an import touches, for before/after comparisons."""
    with engine.connect() as conn:
        return {
            table.name: sorted(tuple(row) for row in conn.execute(select(table)))
            for table in (Unit.__table__, Level.__table__, AuditLog.__table__)
        }


def units_by_code(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {row.code: row for row in conn.execute(select(Unit.__table__))}


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM auditlog")).scalar_one()


def assert_paths_consistent(engine: Engine) -> None:
    """Every stored path is its parent's path plus its own segment, and depth matches."""
    units = units_by_code(engine)
    by_id = {u.id: u for u in units.values()}
    for unit in units.values():
        parent_path = "" if unit.parent_id is None else by_id[unit.parent_id].path
        assert unit.path == child_path(parent_path, unit.id), unit.code
        assert unit.depth == len(unit.path) // 9 - 1, unit.code


def random_tree_rows(seed: int, count: int, level_codes: Sequence[str]) -> list[tuple[str, ...]]:
    """A random tree: each unit's parent is an earlier unit of a higher level (rank strictly lower)."""
    rng = random.Random(seed)
    rows: list[tuple[str, ...]] = []
    ranks: list[int] = []
    for index in range(count):
        candidates = [i for i in rng.sample(range(len(rows)), min(len(rows), 5)) if ranks[i] < len(level_codes) - 1]
        if index == 0 or not candidates or rng.random() < 0.002:
            parent, rank = "", 0
        else:
            parent_index = rng.choice(candidates)
            parent, rank = rows[parent_index][0], rng.randint(ranks[parent_index] + 1, len(level_codes) - 1)
        rows.append(unit_row(f"U{index:05d}", f"Đơn vị {index}", level_codes[rank], parent))
        ranks.append(rank)
    return rows


@contextmanager
def module_engine(kind: str, directory: Path) -> Iterator[Engine]:
    """A fresh database that outlives one test (the shared fixtures are per test), for read-only data
    that is costly to build. PostgreSQL is skipped when unreachable, as in tests/conftest.py."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{directory / 'shared.db'}")
        create_schema(engine)
        yield engine
        engine.dispose()
        return
    with fresh_postgres_schema() as engine:
        yield engine
