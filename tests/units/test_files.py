"""Reading unit files: YAML, CSV (headers, BOM, delimiters) and XLSX."""

from __future__ import annotations

import pytest

from thidua.models.hierarchy import child_path
from thidua.models.spec.problems import SpecError
from tests.units.helpers import BASE_ROWS, unit_row, units_by_code, write_csv, write_xlsx
from thidua.services.units import import_units, read_unit_file
from thidua.settings import CONFIG_DIR


def test_yaml_binh_dinh_file(db):
    report = import_units(db, CONFIG_DIR / "units" / "binh_dinh.yaml")

    assert len(report.created) == 21 and report.changed == 21
    units = units_by_code(db)
    assert units["TLD"].path == child_path("", units["TLD"].id) and units["TLD"].depth == 0
    assert units["BDH"].parent_id == units["TLD"].id
    assert units["BDH"].emails == ["vanphong@ldld.binhdinh.vn", "thiduakhenthuong@ldld.binhdinh.vn"]
    districts = [u for u in units.values() if u.level_code == "cap_tren_truc_tiep"]
    assert len(districts) == 19
    assert all(u.parent_id == units["BDH"].id and u.depth == 2 for u in districts)
    assert units["BDH.GD"].sector == "hcsn" and units["BDH.KKT"].sector == "sxkd"
    assert units["BDH.QNH"].cluster == "Cụm thi đua số 1 (phía Nam)"


def test_committed_cdcs_csv_imports_under_binh_dinh(db):
    import_units(db, CONFIG_DIR / "units" / "binh_dinh.yaml")
    report = import_units(db, CONFIG_DIR / "units" / "binh_dinh_cdcs.csv")

    assert len(report.created) == 1200
    units = units_by_code(db)
    assert sum(1 for u in units.values() if u.level_code == "cdcs" and u.depth == 3) == 1200


def test_csv_vietnamese_headers_bom_and_value_spellings(db, tmp_path):
    header = [
        "Mã đơn vị",
        "TÊN ĐƠN VỊ",
        "cấp",
        "Mã đơn vị cấp trên",
        "Khu vực",
        "E-mail",
        "Hoạt động",
        "Cụm/khối thi đua",
    ]
    rows = BASE_ROWS[:5] + [
        unit_row("C1", "CĐCS 1", "Công đoàn cơ sở", "BDH.QNH", "SXKD", "a@c1.example.vn; b@c1.example.vn", "không"),
        unit_row("C2", "CĐCS 2", "cđcs", "BDH.QNH", "hành chính sự nghiệp", "a@c2.example.vn,b@c2.example.vn", "x"),
        unit_row("C3", "CĐCS 3", "CDCS", "BDH.QNH", "Sản xuất kinh doanh", "", "0"),
        unit_row("C4", "CĐCS 4", "cdcs", "BDH.QNH", "hcsn", "", "", "Khối HCSN"),
        unit_row("", "", "", "", "", "", "", ""),  # a blank row is skipped
    ]
    path = write_csv(tmp_path / "don_vi.csv", rows, header, bom=True)

    report = import_units(db, path)

    assert report.created[-4:] == ["C1", "C2", "C3", "C4"]
    units = units_by_code(db)
    assert (units["C1"].level_code, units["C1"].sector, units["C1"].active) == ("cdcs", "sxkd", False)
    assert units["C1"].emails == ["a@c1.example.vn", "b@c1.example.vn"]
    assert units["C2"].emails == ["a@c2.example.vn", "b@c2.example.vn"] and units["C2"].active
    assert units["C2"].sector == "hcsn" and units["C3"].sector == "sxkd" and not units["C3"].active
    assert units["C4"].active and units["C4"].cluster == "Khối HCSN"


def test_csv_semicolon_delimiter_without_bom(db, tmp_path):
    path = write_csv(tmp_path / "excel.csv", BASE_ROWS, delimiter=";")
    assert len(import_units(db, path).created) == len(BASE_ROWS)


def test_xlsx_import_with_numbers_and_booleans(db, tmp_path):
    rows = [list(r) for r in BASE_ROWS[:4]] + [
        [1001, "CĐCS số", "cdcs", "BDH.QNH", "sxkd", "a@c.example.vn", False, None],
        [1002.0, "CĐCS số 2", "CĐCS", "BDH.QNH", "HCSN", None, 1, None],
    ]
    path = write_xlsx(
        tmp_path / "don_vi.xlsx",
        rows,
        ["Mã đơn vị", "Tên đơn vị", "Cấp", "Mã đơn vị cấp trên", "Khu vực", "Email", "Hoạt động", "Cụm thi đua"],
    )

    report = import_units(db, path)

    assert report.created == ["TLD", "BDH", "PYN", "BDH.QNH", "1001", "1002"]
    units = units_by_code(db)
    assert not units["1001"].active and units["1002"].active and units["1002"].sector == "hcsn"


def test_xlsx_problem_rows_are_spreadsheet_rows(db, tmp_path):
    rows = [list(r) for r in BASE_ROWS[:2]] + [[None] * 8, ["X1", "", "cdcs", "BDH", "", "", "", ""]]
    path = write_xlsx(tmp_path / "loi.xlsx", rows)

    with pytest.raises(SpecError) as exc:
        import_units(db, path)

    [problem] = exc.value.problems
    assert (problem.file, problem.line, problem.field) == (str(path), 5, "ten_don_vi")


@pytest.mark.parametrize(
    ("name", "content", "field", "message"),
    [
        ("a.txt", "x", "", "định dạng tệp không được hỗ trợ"),
        ("a.csv", "", "", "tệp rỗng"),
        ("a.csv", "ma_don_vi,ten_don_vi,cap,ma_cap_tren,ghi_chu\n", "ghi_chu", "cột không được hỗ trợ"),
        ("a.csv", "ma_don_vi,ten_don_vi,cap\n", "ma_cap_tren", "thiếu cột 'Mã đơn vị cấp trên'"),
        ("a.csv", "ma_don_vi,Mã đơn vị,ten_don_vi,cap,ma_cap_tren\n", "Mã đơn vị", "cột trùng"),
        ("a.xlsx", "không phải excel", "", "không đọc được tệp Excel"),
        ("a.yaml", "units: {}\n", "units", "danh sách các đơn vị"),
    ],
)
def test_file_structure_problems(tmp_path, name, content, field, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    raws, problems = read_unit_file(path)

    assert raws == []
    assert any(p.field == field and message in p.message and p.file == str(path) for p in problems), problems


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "cp1258.csv"
    path.write_bytes("ma_don_vi,ten_don_vi,cap,ma_cap_tren\nA,Công đoàn,cdcs,\n".encode("cp1258"))

    _, problems = read_unit_file(path)

    [problem] = problems
    assert problem.line == 2 and problem.message.startswith("tệp không phải văn bản UTF-8 (byte 0xF4 ở cột 4")


def test_yaml_unknown_keys_and_lines(db, tmp_path):
    path = tmp_path / "don_vi.yaml"
    path.write_text(
        "units:\n"
        "  - code: TLD\n"
        "    name: Tổng LĐLĐ\n"
        "    level: tong_ldld\n"
        "    parnet: X\n"
        "  - just a string\n"
        "extra: 1\n",
        encoding="utf-8",
    )

    with pytest.raises(SpecError) as exc:
        import_units(db, path)

    found = {(p.line, p.field, p.message.split(" (")[0]) for p in exc.value.problems}
    assert found == {
        (5, "units[0].parnet", "khóa không được phép"),
        (6, "units[1]", "mỗi đơn vị phải là một nhóm khóa: giá trị"),
        (7, "extra", "khóa không được phép"),
    }


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_unit_file(tmp_path / "khong_co.csv")
    with pytest.raises(FileNotFoundError):
        read_unit_file(tmp_path / "khong_co.xlsx")


def test_cells_outside_the_headed_columns_are_reported(tmp_path):
    path = tmp_path / "thua.csv"
    path.write_text("ma_don_vi,ten_don_vi,cap,ma_cap_tren\nA,Tên,cdcs,,ghi chú lạc\n", encoding="utf-8")

    raws, problems = read_unit_file(path)

    assert [(p.line, p.field, p.message) for p in problems] == [(2, "cột 5", "ô có dữ liệu nhưng cột không có tiêu đề")]


def test_directory_and_non_utf8_yaml(tmp_path):
    _, problems = read_unit_file(tmp_path)
    assert problems[0].message == "đây là một thư mục, không phải một tệp"

    path = tmp_path / "cp1258.yaml"
    path.write_bytes("units:\n  - code: A\n    name: Công đoàn\n".encode("cp1258"))
    with pytest.raises(SpecError) as exc:
        read_unit_file(path)
    problem = exc.value.problems[0]
    assert problem.line == 3 and problem.message.startswith("tệp không phải văn bản UTF-8 (byte 0xF4 ở cột 12")
    assert "lưu lại với bảng mã UTF-8" in problem.message
