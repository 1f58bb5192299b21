"""The level list: upsert from YAML, restructuring, and the refusals that protect stored units."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from thidua.models.spec.problems import SpecError
from thidua.models.tables import Level
from tests.units.helpers import BASE_ROWS, audit_count, dump, write_csv
from thidua.services.units import import_units, load_levels

DEFAULT = [("tong_ldld", 0), ("ldld_tinh", 1), ("cap_tren_truc_tiep", 2), ("cdcs", 3)]


def levels_yaml(tmp_path, *entries: str):
    path = tmp_path / "levels.yaml"
    path.write_text("levels:\n" + "".join(f"  - {entry}\n" for entry in entries), encoding="utf-8")
    return path


def stored_levels(engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(Level.code, Level.rank).order_by(Level.rank))]


def test_default_levels_load_in_file_order_and_reload_is_a_no_op(engine):
    report = load_levels(engine)
    assert report.created == [code for code, _ in DEFAULT] and stored_levels(engine) == DEFAULT
    audits = audit_count(engine)

    again = load_levels(engine)

    assert again.created == again.updated == again.removed == [] and len(again.unchanged) == 4
    assert audit_count(engine) == audits


def test_restructure_adds_renames_and_removes_unused_levels(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    new = levels_yaml(
        tmp_path,
        "{code: tong_ldld, name: Tổng Liên đoàn Lao động Việt Nam, short_name: Tổng LĐLĐ}",
        "{code: ldld_tinh, name: 'Liên đoàn Lao động tỉnh, thành phố', short_name: LĐLĐ tỉnh}",
        "{code: cap_tren_truc_tiep, name: Công đoàn cấp trên trực tiếp cơ sở (từ 2025), short_name: CĐ cấp trên}",
        "{code: cdcs, name: Công đoàn cơ sở, short_name: CĐCS}",
        "{code: to_cong_doan, name: Tổ công đoàn}",
    )
    report = load_levels(db, new)
    assert report.created == ["to_cong_doan"] and report.updated == ["cap_tren_truc_tiep"]

    report = load_levels(db)  # back to the default file: the new, unused level goes away

    assert report.removed == ["to_cong_doan"] and stored_levels(db) == DEFAULT


def test_removing_a_level_in_use_is_refused(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    before = dump(db)
    path = levels_yaml(
        tmp_path, "{code: tong_ldld, name: A}", "{code: ldld_tinh, name: B}", "{code: cap_tren_truc_tiep, name: C}"
    )

    with pytest.raises(SpecError) as exc:
        load_levels(db, path)

    [problem] = exc.value.problems
    assert problem.file == str(path) and problem.field == "levels"
    assert problem.message == "cấp 'cdcs' đang được 3 đơn vị sử dụng, không thể bỏ khỏi tệp"
    assert dump(db) == before


def test_reordering_against_stored_units_is_refused(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    path = levels_yaml(
        tmp_path,
        "{code: tong_ldld, name: A}",
        "{code: ldld_tinh, name: B}",
        "{code: cdcs, name: D}",
        "{code: cap_tren_truc_tiep, name: C}",
    )

    with pytest.raises(SpecError) as exc:
        load_levels(db, path)

    assert [p.message for p in exc.value.problems] == [
        "thứ tự mới đặt cấp 'cdcs' không thấp hơn cấp 'cap_tren_truc_tiep', trong khi 3 đơn vị cấp 'cdcs' "
        "đang trực thuộc đơn vị cấp 'cap_tren_truc_tiep'"
    ]


def test_level_file_problems_are_located(engine, tmp_path):
    path = levels_yaml(tmp_path, "{code: a, name: A}", "{code: a, name: B}", "{code: b, name: C, rank: 3}")

    with pytest.raises(SpecError) as exc:
        load_levels(engine, path)

    assert [(p.line, p.field) for p in exc.value.problems] == [(4, "levels[2].rank")]

    with pytest.raises(SpecError) as exc:
        load_levels(engine, levels_yaml(tmp_path, "{code: a, name: A}", "{code: a, name: B}"))
    assert [(p.line, p.field, p.message) for p in exc.value.problems] == [(3, "levels[1].code", "mã cấp 'a' bị trùng")]
