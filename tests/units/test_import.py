"""Import semantics: upsert by code, moves with subtree path rewrites, deactivation, idempotence, audit."""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlmodel import Session

from thidua.models.hierarchy import child_path
from thidua.models.tables import AuditLog, Unit
from tests.units.helpers import (
    BASE_ROWS,
    assert_paths_consistent,
    audit_count,
    dump,
    random_tree_rows,
    unit_row,
    units_by_code,
    write_csv,
)
from thidua.services.units import import_units, load_levels


def test_reimport_changes_nothing_and_writes_no_audit(any_db, tmp_path):
    path = write_csv(tmp_path / "base.csv", BASE_ROWS)
    first = import_units(any_db, path)
    assert first.counts["created"] == len(BASE_ROWS) and audit_count(any_db) == len(BASE_ROWS) + 4  # + levels
    before = dump(any_db)

    second = import_units(any_db, path)

    assert second.changed == 0 and second.unchanged == [row[0] for row in BASE_ROWS]
    assert dump(any_db) == before


def test_update_fields_audited_with_before_and_after(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    audits_before = audit_count(db)
    changed = [list(r) for r in BASE_ROWS]
    changed[5][1] = "CĐCS Công ty Mẫu số 01 (đổi tên)"
    changed[5][5] = "moi@cdcs01.example.vn; a@cdcs01.example.vn"
    changed[6][6] = "không"

    report = import_units(db, write_csv(tmp_path / "moi.csv", changed))

    assert report.updated == ["BDH.QNH.01", "BDH.QNH.02"] and report.moved == [] and len(report.unchanged) == 6
    units = units_by_code(db)
    assert units["BDH.QNH.01"].emails == ["moi@cdcs01.example.vn", "a@cdcs01.example.vn"]
    assert not units["BDH.QNH.02"].active
    with Session(db) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.id > audits_before).order_by(AuditLog.id)).all()
    assert [(r.action, r.entity, r.entity_id) for r in rows] == [
        ("unit.update", "unit", str(units["BDH.QNH.01"].id)),
        ("unit.update", "unit", str(units["BDH.QNH.02"].id)),
    ]
    assert rows[0].before == {
        "code": "BDH.QNH.01",
        "name": "CĐCS Công ty Mẫu số 01 (giả lập)",
        "emails": ["a@cdcs01.example.vn"],
    }
    assert rows[1].after == {"code": "BDH.QNH.02", "active": False}
    assert rows[0].note.startswith("nhập từ tệp")


def test_move_rewrites_the_whole_subtree(any_db, tmp_path):
    import_units(any_db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    # Only the district row is in the file: its CĐCS (not in the file) must follow it.
    report = import_units(
        any_db,
        write_csv(
            tmp_path / "move.csv",
            [
                unit_row("BDH.QNH", "LĐLĐ thành phố Quy Nhơn", "cap_tren_truc_tiep", "PYN", cluster="Cụm 1"),
            ],
        ),
    )

    assert report.moved == ["BDH.QNH"] and report.updated == []
    units = units_by_code(any_db)
    district = units["BDH.QNH"]
    assert district.parent_id == units["PYN"].id
    assert district.path == child_path(units["PYN"].path, district.id)
    for code in ("BDH.QNH.01", "BDH.QNH.02"):
        assert units[code].path == child_path(district.path, units[code].id) and units[code].depth == 3
    assert units["BDH.ANH.01"].path.startswith(units["BDH"].path)
    assert_paths_consistent(any_db)


def test_nested_moves_new_parents_and_level_changes(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    rows = [
        unit_row("HUE", "LĐLĐ tỉnh mới", "ldld_tinh", "TLD"),  # new
        unit_row("HUE.X", "Công đoàn ngành mới", "cap_tren_truc_tiep", "HUE"),  # new under new
        unit_row("BDH.QNH", "LĐLĐ thành phố Quy Nhơn", "cap_tren_truc_tiep", "HUE", cluster="Cụm 1"),  # moved
        # moved out of a moved subtree, under a new unit
        unit_row("BDH.QNH.02", "CĐCS Trường Mẫu số 02 (giả lập)", "cdcs", "HUE.X", "hcsn", "b@cdcs02.example.vn"),
        unit_row("BDH.ANH.01", "CĐCS Công ty Mẫu số 03 (giả lập)", "cdcs", "BDH.QNH", "sxkd"),  # into a moved one
    ]

    report = import_units(db, write_csv(tmp_path / "nested.csv", rows))

    assert report.created == ["HUE", "HUE.X"]
    assert report.moved == ["BDH.QNH", "BDH.QNH.02", "BDH.ANH.01"]
    assert_paths_consistent(db)
    units = units_by_code(db)
    assert units["BDH.QNH.01"].path.startswith(units["HUE"].path)
    assert units["BDH.ANH.01"].parent_id == units["BDH.QNH"].id


def test_random_moves_keep_every_path_consistent(any_db, tmp_path):
    levels = tmp_path / "levels.yaml"
    levels.write_text("levels:\n" + "".join(f"  - {{code: c{i}, name: Cấp {i}}}\n" for i in range(6)), "utf-8")
    load_levels(any_db, levels)
    rows = random_tree_rows(seed=7, count=400, level_codes=[f"c{i}" for i in range(6)])
    import_units(any_db, write_csv(tmp_path / "tree.csv", rows))
    rng = random.Random(11)
    level_of = {row[0]: int(row[2][1:]) for row in rows}
    children: dict[str, list[str]] = {}
    for row in rows:
        children.setdefault(row[3], []).append(row[0])

    def subtree(code: str) -> set[str]:
        found, stack = set(), [code]
        while stack:
            found.add(node := stack.pop())
            stack.extend(children.get(node, []))
        return found

    moved_rows = []
    for row in rng.sample(rows, 80):  # re-parent under any higher-level unit outside its own subtree
        own = subtree(row[0])
        options = [r[0] for r in rows if level_of[r[0]] < level_of[row[0]] and r[0] not in own]
        if options:
            moved_rows.append(unit_row(row[0], row[1], row[2], rng.choice(options)))

    report = import_units(any_db, write_csv(tmp_path / "moves.csv", moved_rows))

    assert len(report.moved) == sum(1 for r in moved_rows if r[3] != dict((x[0], x[3]) for x in rows)[r[0]])
    assert_paths_consistent(any_db)
    units = units_by_code(any_db)
    by_id = {u.id: u.code for u in units.values()}
    assert all(by_id[units[r[0]].parent_id] == r[3] for r in moved_rows)


def test_deactivate_missing_only_below_the_file_roots(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    extra = [unit_row("PYN.01", "CĐCS Phú Yên (giả lập)", "cap_tren_truc_tiep", "PYN")]
    import_units(db, write_csv(tmp_path / "pyn.csv", extra))
    # The file holds BDH and one district only: BDH.ANH and the CĐCS below BDH are missing.
    rows = [BASE_ROWS[1], BASE_ROWS[3]]
    path = write_csv(tmp_path / "bdh.csv", rows)

    kept = import_units(db, path)
    assert kept.deactivated == [] and all(u.active for u in units_by_code(db).values())

    report = import_units(db, path, deactivate_missing=True)

    assert sorted(report.deactivated) == ["BDH.ANH", "BDH.ANH.01", "BDH.QNH.01", "BDH.QNH.02"]
    units = units_by_code(db)
    assert len(units) == len(BASE_ROWS) + 1  # never deleted
    assert all(units[c].active for c in ("TLD", "BDH", "PYN", "PYN.01", "BDH.QNH"))
    assert not units["BDH.ANH.01"].active
    assert import_units(db, path, deactivate_missing=True).changed == 0  # already inactive


def test_dry_run_reports_without_writing(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    before = dump(db)
    rows = [
        BASE_ROWS[1],
        unit_row("BDH.QNH", "LĐLĐ Quy Nhơn", "cap_tren_truc_tiep", "PYN"),
        unit_row("N", "Mới", "cdcs", "BDH"),
    ]

    report = import_units(db, write_csv(tmp_path / "thu.csv", rows), dry_run=True, deactivate_missing=True)

    assert report.dry_run and report.created == ["N"] and report.moved == ["BDH.QNH"]
    # BDH.QNH's new parent is not in the file, so it is a root of the file too: its CĐCS are in scope.
    assert sorted(report.deactivated) == ["BDH.ANH", "BDH.ANH.01", "BDH.QNH.01", "BDH.QNH.02"]
    assert dump(db) == before


def test_postgres_sequence_follows_assigned_ids(any_db, tmp_path):
    import_units(any_db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    with Session(any_db) as session:
        unit = Unit(code="ORM", name="Thêm qua ORM", level_code="cdcs", path="", emails=[])
        session.add(unit)
        session.commit()
        assert unit.id == len(BASE_ROWS) + 1
