"""Validation: every error kind located (file, row, field), all reported at once, nothing applied."""

from __future__ import annotations

import pytest

from thidua.models.spec.problems import SpecError
from tests.units.helpers import BASE_ROWS, dump, unit_row, write_csv
from thidua.services.units import import_units


@pytest.fixture
def base_db(db, tmp_path):
    import_units(db, write_csv(tmp_path / "base.csv", BASE_ROWS))
    return db


def problems_of(engine, path) -> list:
    with pytest.raises(SpecError) as exc:
        import_units(engine, path)
    assert all(p.file == str(path) for p in exc.value.problems)
    return exc.value.problems


def test_every_row_error_kind_is_located(base_db, tmp_path):
    rows = [
        unit_row("", "Không có mã", "cdcs", "BDH.QNH"),  # row 2
        unit_row("mã sai!", "X", "cdcs", "BDH.QNH"),  # 3
        unit_row("D1", "", "cdcs", "BDH.QNH"),  # 4
        unit_row("D2", "X", "", "BDH.QNH"),  # 5
        unit_row("D3", "X", "cap_xa", "BDH.QNH"),  # 6
        unit_row("D4", "X", "cdcs", "KHONG.CO"),  # 7
        unit_row("D5", "X", "cdcs", "BDH.QNH", "nông nghiệp"),  # 8
        unit_row("D6", "X", "cdcs", "BDH.QNH", "", "khong-phai-email; ok@d6.example.vn"),  # 9
        unit_row("D7", "X", "cdcs", "BDH.QNH", "", "", "có lẽ"),  # 10
        unit_row("D8", "X", "ldld_tinh", "BDH.QNH"),  # 11: level not below the parent's
        unit_row("D8", "Y", "cdcs", "BDH.QNH"),  # 12: duplicate code
        unit_row("D9", "X", "cdcs", "D9"),  # 13: its own parent
        unit_row("D10", "X", "cdcs", "BDH.QNH", cluster="K" * 121),  # 14
        unit_row("D11", "Hợp lệ", "cdcs", "BDH.QNH"),  # 15: fine
    ]
    path = write_csv(tmp_path / "loi.csv", rows)

    problems = problems_of(base_db, path)

    located = [(p.line, p.field, p.message) for p in problems]
    expected = [
        (2, "ma_don_vi", "thiếu mã đơn vị"),
        (3, "ma_don_vi", "mã đơn vị không đúng dạng: 'mã sai!'"),
        (4, "ten_don_vi", "thiếu tên đơn vị"),
        (5, "cap", "thiếu cấp đơn vị"),
        (6, "cap", "cấp không tồn tại: 'cap_xa'"),
        (7, "ma_cap_tren", "đơn vị cấp trên 'KHONG.CO' không có trong tệp và chưa có trong cơ sở dữ liệu"),
        (8, "khu_vuc", "khu vực không hợp lệ: 'nông nghiệp'"),
        (9, "email", "địa chỉ e-mail không hợp lệ: 'khong-phai-email'"),
        (10, "hoat_dong", "giá trị hoạt động không hợp lệ: 'có lẽ'"),
        (11, "cap", "cấp 'LĐLĐ tỉnh' phải thấp hơn cấp của đơn vị cấp trên 'BDH.QNH'"),
        (12, "ma_don_vi", "mã đơn vị 'D8' bị trùng (đã có ở dòng 11)"),
        (13, "ma_cap_tren", "đơn vị không thể là cấp trên của chính nó"),
        (14, "cum_thi_dua", "tên cụm/khối thi đua quá dài"),
    ]
    assert len(located) == len(expected), located
    for (line, field, message), (want_line, want_field, want_message) in zip(located, expected):
        assert (line, field) == (want_line, want_field)
        assert message.startswith(want_message), message


def test_yaml_problems_carry_yaml_lines_and_paths(base_db, tmp_path):
    path = tmp_path / "loi.yaml"
    path.write_text(
        "units:\n"
        "  - code: Y1\n"
        "    name: Đơn vị Y1\n"
        "    level: cdcs\n"
        "    parent: BDH.QNH\n"
        "    emails: [ok@y1.example.vn, sai@]\n"
        "  - code: Y2\n"
        "    level: cdcs\n"
        "    parent: BDH.QNH\n"
        "    sector: abc\n",
        encoding="utf-8",
    )

    problems = problems_of(base_db, path)

    assert [(p.line, p.field) for p in problems] == [
        (6, "units[0].emails"),
        (7, "units[1].name"),
        (10, "units[1].sector"),
    ]


def test_cycle_within_the_file(base_db, tmp_path):
    rows = [
        unit_row("E1", "X", "cap_tren_truc_tiep", "E3"),
        unit_row("E2", "X", "cap_tren_truc_tiep", "E1"),
        unit_row("E3", "X", "cap_tren_truc_tiep", "E2"),
    ]
    problems = problems_of(base_db, write_csv(tmp_path / "vong.csv", rows))

    cycles = [p for p in problems if p.message.startswith("vòng lặp")]
    assert [(p.line, p.field, p.message) for p in cycles] == [
        (2, "ma_cap_tren", "vòng lặp cấp trên: E1 → E3 → E2 → E1")
    ]


def test_cycle_through_stored_units(base_db, tmp_path):
    # BDH.QNH.01 is stored under BDH.QNH under BDH: hanging BDH below BDH.QNH.01 closes a loop.
    rows = [unit_row("BDH", "LĐLĐ tỉnh Bình Định", "ldld_tinh", "BDH.QNH.01")]
    problems = problems_of(base_db, write_csv(tmp_path / "vong.csv", rows))

    assert any(
        p.line == 2 and p.field == "ma_cap_tren" and p.message == "vòng lặp cấp trên: BDH → BDH.QNH.01 → BDH.QNH → BDH"
        for p in problems
    ), problems


def test_level_change_checked_against_stored_children(base_db, tmp_path):
    rows = [unit_row("BDH.QNH", "LĐLĐ thành phố Quy Nhơn", "cdcs", "BDH")]
    problems = problems_of(base_db, write_csv(tmp_path / "cap.csv", rows))

    assert [(p.line, p.field) for p in problems] == [(2, "cap"), (2, "cap")]
    assert all("đơn vị con" in p.message and "BDH.QNH.0" in p.message for p in problems)


def test_failed_import_leaves_database_unchanged(base_db, tmp_path):
    before = dump(base_db)
    rows = [
        unit_row("BDH.QNH", "LĐLĐ TP Quy Nhơn (đổi tên)", "cap_tren_truc_tiep", "BDH"),  # update
        unit_row("BDH.ANH", "LĐLĐ thị xã An Nhơn", "cap_tren_truc_tiep", "PYN"),  # move
        unit_row("N1", "Đơn vị mới", "cdcs", "BDH.QNH"),  # insert
        unit_row("N2", "Đơn vị lỗi", "cdcs", "BDH.QNH", email="sai"),  # the one error
    ]

    problems_of(base_db, write_csv(tmp_path / "mot_loi.csv", rows))

    assert dump(base_db) == before


def test_no_levels_in_database(engine, tmp_path):
    path = write_csv(tmp_path / "a.csv", BASE_ROWS[:1])
    with pytest.raises(SpecError) as exc:
        import_units(engine, path)
    assert "chưa có danh mục cấp" in exc.value.problems[0].message
