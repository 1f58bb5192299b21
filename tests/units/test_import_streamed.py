"""The streamed import of new units from CSV (issue 17: the national tree in bounded memory) writes exactly what
the whole-file import writes, in any row order, and keeps its located errors and its all-or-nothing behaviour."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from thidua.models.spec.problems import SpecError
from thidua.models.tables import AuditLog, Unit
from thidua.services import units as service
from thidua.services.units import import_units
from tests.units.helpers import (
    BASE_ROWS,
    assert_paths_consistent,
    audit_count,
    dump,
    random_tree_rows,
    unit_row,
    write_csv,
    write_xlsx,
)

LEVELS = ["tong_ldld", "ldld_tinh", "cap_tren_truc_tiep", "cdcs"]


def _content(engine) -> tuple[list[tuple], list[tuple]]:  # noqa: ANN001
    """Units and their creation audit rows, without the clock."""
    with engine.connect() as conn:
        units = sorted(
            tuple(v for k, v in row._mapping.items() if k != "updated_at")
            for row in conn.execute(select(Unit.__table__))
        )
        audits = sorted(
            (r.action, r.entity_id, r.unit_id, str(r.after), r.note.replace(".xlsx", ".csv"))
            for r in conn.execute(select(AuditLog.__table__).where(AuditLog.__table__.c.entity == "unit"))
        )
    return units, audits


def test_streamed_csv_writes_what_the_whole_file_import_writes(any_db, tmp_path, monkeypatch) -> None:
    rows = random_tree_rows(7, 600, LEVELS)
    random.Random(3).shuffle(rows)  # children often come before their parents
    streamed = []
    monkeypatch.setattr(service, "STREAM_CHUNK", 50)  # many chunks, children waiting across chunks
    original = service._insert_streamed
    monkeypatch.setattr(service, "_insert_streamed", lambda *a, **k: streamed.append(1) or original(*a, **k))
    report = import_units(any_db, write_csv(tmp_path / "units.csv", rows))
    assert streamed, "the CSV file of new units was not streamed"
    assert report.created == [row[0] for row in rows]
    assert_paths_consistent(any_db)
    with any_db.connect() as conn:
        ids = dict(conn.execute(select(Unit.__table__.c.code, Unit.__table__.c.id)).all())
    assert [ids[row[0]] for row in rows] == list(range(1, len(rows) + 1))  # numbered in file order
    got = _content(any_db)

    with any_db.begin() as conn:  # the same file through the whole-file reader (XLSX is never streamed)
        conn.execute(AuditLog.__table__.delete().where(AuditLog.__table__.c.entity == "unit"))
        conn.execute(Unit.__table__.delete())
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER SEQUENCE unit_id_seq RESTART WITH 1")
    monkeypatch.setattr(service, "_import_new_csv", lambda *a, **k: None)
    import_units(any_db, write_xlsx(tmp_path / "units.xlsx", rows))
    assert _content(any_db) == got


def test_streamed_import_under_stored_units_and_its_dry_run(db, tmp_path) -> None:
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    before = dump(db)
    more = [
        unit_row("BDH.QNH.03", "CĐCS Trường Mẫu số 04", "cdcs", "BDH.QNH.X"),
        unit_row("BDH.QNH.X", "Công đoàn ngành giáo dục Quy Nhơn", "cap_tren_truc_tiep", "BDH"),
    ]
    path = write_csv(tmp_path / "more.csv", more)
    assert import_units(db, path, dry_run=True).created == ["BDH.QNH.03", "BDH.QNH.X"]
    assert dump(db) == before
    report = import_units(db, path)
    assert report.created == ["BDH.QNH.03", "BDH.QNH.X"] and report.dry_run is False
    assert_paths_consistent(db)
    assert audit_count(db) == len(before["auditlog"]) + 2


def test_a_bad_row_is_located_and_changes_nothing(db, tmp_path) -> None:
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    before = dump(db)
    rows = [unit_row(f"N{i:03d}", f"Đơn vị {i}", "cdcs", "BDH.QNH") for i in range(300)]
    rows[250] = unit_row("N250", "Đơn vị 250", "cấp không có", "BDH.QNH")
    rows[120] = unit_row("N120", "Đơn vị 120", "cdcs", "KHONG.CO")
    with pytest.raises(SpecError) as caught:
        import_units(db, write_csv(tmp_path / "bad.csv", rows))
    where = [(p.line, p.field) for p in caught.value.problems]
    assert where == [(122, "ma_cap_tren"), (252, "cap")]
    assert all(p.file.endswith("bad.csv") for p in caught.value.problems)
    assert dump(db) == before


def test_a_file_updating_stored_units_goes_the_whole_file_way(db, tmp_path) -> None:
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    rows = [
        *BASE_ROWS[:-1],
        unit_row("BDH.ANH.01", "CĐCS Công ty Mẫu số 03 (đổi tên)", "cdcs", "BDH.ANH", "sxkd"),
        unit_row("BDH.ANH.02", "CĐCS mới", "cdcs", "BDH.ANH"),
    ]
    report = import_units(db, write_csv(tmp_path / "update.csv", rows))
    assert report.updated == ["BDH.ANH.01"] and report.created == ["BDH.ANH.02"]
