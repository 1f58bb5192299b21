"""Spreadsheet template and bulk import by a directly-superior union; one-unit form files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from thidua.models.submissions import ImportRejected, UnknownReference, UnreadableFile
from thidua.models.tables import Assignment, ObligationDef, Unit
from tests.submissions.conftest import CODE, db_state, vn
from thidua.db import session_scope
from thidua.services.submissions import (
    get_campaign,
    get_obligation,
    import_reports,
    obligation_spec,
    read_form_file,
    write_form_template,
)

ROUND1 = "so-ket-dot-1"
FIRST_ROW = 5  # rows 1-2 title and note, 3 labels, 4 field codes


def make_template(engine, tmp_path: Path, superior: str = "BDH.D1") -> Path:
    out = tmp_path / "mau.xlsx"
    with session_scope(engine) as session:
        write_form_template(session, campaign_code=CODE, obligation_code=ROUND1, superior_code=superior, out=out)
    return out


def fill(path: Path, rows: dict[int, dict[str, object]]) -> Path:
    """Type values into the template by field code, as an officer would in Excel."""
    workbook = load_workbook(path)
    sheet = workbook["Nhập liệu"]
    columns = {sheet.cell(4, c).value: c for c in range(1, sheet.max_column + 1)}
    for row, values in rows.items():
        for code, value in values.items():
            sheet.cell(row, columns[code], value)
    workbook.save(path)
    return path


def do_import(engine, path: Path, superior: str = "BDH.D1", **kw):
    with session_scope(engine) as session:
        return import_reports(
            session,
            campaign_code=CODE,
            obligation_code=ROUND1,
            superior_code=superior,
            path=path,
            actor=f"{superior}@example.vn",
            now=vn(5, 6),
            **kw,
        )


def statuses(engine) -> dict[str, str]:
    with session_scope(engine) as session:
        return dict(
            session.execute(
                select(Unit.code, Assignment.status)
                .join(Unit, Unit.id == Assignment.unit_id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .where(ObligationDef.code == ROUND1)
            ).all()
        )


def test_template_has_the_units_and_the_form(loaded, tmp_path):
    path = make_template(loaded.engine, tmp_path)
    sheet = load_workbook(path)["Nhập liệu"]
    codes = [sheet.cell(4, c).value for c in range(1, sheet.max_column + 1)]
    assert codes[:5] == ["stt", "ma_don_vi", "ten_don_vi", "khu_vuc", "so_sang_kien"]
    assert sheet.cell(3, 5).value == "Số sáng kiến trong đợt (*)"
    assert [sheet.cell(r, 2).value for r in range(FIRST_ROW, sheet.max_row + 1)] == ["BDH.D1.1", "BDH.D1.2", "BDH.D1.3"]
    assert sheet.cell(FIRST_ROW, 3).value == "CĐCS Đơn vị Mẫu 1-1 (giả lập)"
    # BDH.D1.2 is HCSN: the SXKD-only cell is greyed, its own cell is not.
    sxkd_only, hcsn_only = codes.index("gia_tri_lam_loi") + 1, codes.index("so_mo_hinh_cai_cach") + 1
    assert sheet.cell(FIRST_ROW + 1, sxkd_only).fill.fgColor.rgb.endswith("D9D9D9")
    assert sheet.cell(FIRST_ROW + 1, hcsn_only).fill.fill_type is None
    kinds = {dv.type for dv in sheet.data_validations.dataValidation}
    assert {"whole", "decimal", "textLength"} <= kinds


def test_template_for_a_unit_that_reviews_nobody(loaded, tmp_path):
    with session_scope(loaded.engine) as session, pytest.raises(UnknownReference, match="không duyệt báo cáo"):
        write_form_template(
            session, campaign_code=CODE, obligation_code=ROUND1, superior_code="BDH.D1.1", out=tmp_path / "x.xlsx"
        )


def test_filled_template_is_imported(loaded, tmp_path):
    path = fill(
        make_template(loaded.engine, tmp_path),
        {
            FIRST_ROW: {"so_sang_kien": 5, "so_doan_vien_moi": "12", "gia_tri_lam_loi": "3,5"},
            FIRST_ROW + 1: {"so_sang_kien": "7", "so_doan_vien_moi": 0, "gia_tri_lam_loi": "bỏ qua: khu vực HCSN"},
        },
    )
    result = do_import(loaded.engine, path)
    assert [(r.unit_code, r.version) for r in result.applied] == [("BDH.D1.1", 1), ("BDH.D1.2", 1)]
    assert result.skipped_blank == ["BDH.D1.3"] and result.problems == []
    assert result.applied[0].data == {"so_sang_kien": 5, "so_doan_vien_moi": 12, "gia_tri_lam_loi": 3.5}
    assert "gia_tri_lam_loi" not in result.applied[1].data
    assert statuses(loaded.engine) == {
        "BDH.D1": "chua_gui",
        "BDH.D1.1": "da_gui",
        "BDH.D1.2": "da_gui",
        "BDH.D1.3": "chua_gui",
        "BDH.D2": "chua_gui",
        "BDH.D2.1": "chua_gui",
        "BDH.D2.2": "chua_gui",
        "BDH.D2.3": "chua_gui",
    }


def test_accept_on_entry(loaded, tmp_path):
    path = fill(make_template(loaded.engine, tmp_path), {FIRST_ROW: {"so_sang_kien": 1, "so_doan_vien_moi": 1}})
    do_import(loaded.engine, path, accept=True)
    assert statuses(loaded.engine)["BDH.D1.1"] == "da_duyet"


def bad_sheet(path: Path) -> Path:
    return fill(
        path,
        {
            FIRST_ROW: {"so_sang_kien": "mười", "so_doan_vien_moi": 3},  # wrong type
            FIRST_ROW + 1: {"so_sang_kien": 2, "so_doan_vien_moi": 3},  # good
            FIRST_ROW + 2: {"so_sang_kien": 2},  # missing required
            FIRST_ROW + 3: {"ma_don_vi": "BDH.D2.1", "so_sang_kien": 1, "so_doan_vien_moi": 1},  # another district
            FIRST_ROW + 4: {"ma_don_vi": "KHONG.CO", "so_sang_kien": 1, "so_doan_vien_moi": 1},  # unknown unit
            FIRST_ROW + 5: {"ma_don_vi": "BDH.D1.2", "so_sang_kien": 1, "so_doan_vien_moi": 1},  # duplicate
            FIRST_ROW + 6: {"so_sang_kien": 20000, "so_doan_vien_moi": 1},  # no unit, out of range
        },
    )


def test_bad_rows_are_all_reported_and_nothing_is_applied(loaded, tmp_path):
    path = bad_sheet(make_template(loaded.engine, tmp_path))
    before = db_state(loaded.engine)
    with pytest.raises(ImportRejected) as caught:
        do_import(loaded.engine, path)
    assert db_state(loaded.engine) == before
    problems = [str(p) for p in caught.value.problems]
    assert problems == [
        "dòng 5, cột E (Số sáng kiến trong đợt): phải là số nguyên, nhận 'mười'",
        "dòng 7, cột F (Số đoàn viên mới kết nạp): bắt buộc nhập nhưng đang để trống",
        "dòng 8, cột B (Mã đơn vị): đơn vị 'BDH.D2.1' không trực thuộc 'BDH.D1', không được nhập thay",
        "dòng 9, cột B (Mã đơn vị): không có đơn vị mã 'KHONG.CO'",
        "dòng 10, cột B (Mã đơn vị): đơn vị 'BDH.D1.2' đã có ở dòng 6",
        "dòng 11, cột B (Mã đơn vị): thiếu mã đơn vị",
    ]
    assert "dùng --partial" in str(caught.value)


def test_partial_applies_the_good_rows(loaded, tmp_path):
    path = bad_sheet(make_template(loaded.engine, tmp_path))
    result = do_import(loaded.engine, path, partial=True)
    assert [r.unit_code for r in result.applied] == ["BDH.D1.2"]
    assert len(result.problems) == 6
    assert statuses(loaded.engine)["BDH.D1.2"] == "da_gui" and statuses(loaded.engine)["BDH.D1.1"] == "chua_gui"


def test_a_hand_made_sheet_with_labels_and_an_unknown_column(loaded, tmp_path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Mã đơn vị", "Số sáng kiến trong đợt (*)", "số đoàn viên  mới kết nạp", "Ghi chú lạ"])
    sheet.append(["BDH.D1.1", 3, 4, "x"])
    path = tmp_path / "tu-lam.xlsx"
    workbook.save(path)
    before = db_state(loaded.engine)
    with pytest.raises(ImportRejected) as caught:
        do_import(loaded.engine, path, partial=True)
    assert [str(p) for p in caught.value.problems] == ["dòng 1, cột D (Ghi chú lạ): không có trường này trong biểu mẫu"]
    assert db_state(loaded.engine) == before
    sheet.delete_cols(4)
    sheet.append(["KHONG.CO", 1, 1])
    workbook.save(path)
    result = do_import(loaded.engine, path, partial=True)
    assert [r.data for r in result.applied] == [{"so_sang_kien": 3, "so_doan_vien_moi": 4}]
    assert [str(p) for p in result.problems] == ["dòng 3, cột A (Mã đơn vị): không có đơn vị mã 'KHONG.CO'"]


def test_missing_required_column_is_fatal(loaded, tmp_path):
    workbook = Workbook()
    workbook.active.append(["Mã đơn vị", "so_sang_kien"])
    workbook.active.append(["BDH.D1.1", 1])
    path = tmp_path / "thieu-cot.xlsx"
    workbook.save(path)
    with pytest.raises(ImportRejected, match="thiếu cột bắt buộc 'Số đoàn viên mới kết nạp'"):
        do_import(loaded.engine, path)


def test_not_an_excel_file(loaded, tmp_path):
    path = tmp_path / "hong.xlsx"
    path.write_text("không phải excel", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="không đọc được tệp Excel"):
        do_import(loaded.engine, path)


# ---------------------------------------------------------------------------------------------------
# One unit's form file
# ---------------------------------------------------------------------------------------------------
@pytest.fixture
def fields(loaded):
    with session_scope(loaded.engine) as session:
        return obligation_spec(get_obligation(session, get_campaign(session, CODE), ROUND1)).fields


def test_yaml_and_json_forms(fields, tmp_path):
    yaml_file = tmp_path / "bc.yaml"
    yaml_file.write_text(
        "so_sang_kien: 12\nso_doan_vien_moi: '3'\nguong_dien_hinh: Chị Nguyễn Thị A\n", encoding="utf-8"
    )
    assert read_form_file(yaml_file, fields, unit_code="BDH.D1.1") == {
        "so_sang_kien": 12,
        "so_doan_vien_moi": "3",
        "guong_dien_hinh": "Chị Nguyễn Thị A",
    }
    json_file = tmp_path / "bc.json"
    json_file.write_text(json.dumps({"so_sang_kien": 1}), encoding="utf-8")
    assert read_form_file(json_file, fields, unit_code="BDH.D1.1") == {"so_sang_kien": 1}


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("bc.yaml", "so_sang_kien: [1\n", "lỗi cú pháp YAML"),
        ("bc.json", '{"so_sang_kien": }', "lỗi cú pháp JSON ở dòng 1"),
        ("bc.json", "[1, 2]", "phải là các cặp 'mã trường: giá trị'"),
        ("bc.txt", "x", "chỉ nhận tệp .yaml, .json hoặc .xlsx"),
    ],
)
def test_unreadable_form_files(fields, tmp_path, name, text, reason):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UnreadableFile, match=reason):
        read_form_file(path, fields, unit_code="BDH.D1.1")


def test_xlsx_forms_key_value_or_template_row(loaded, fields, tmp_path):
    workbook = Workbook()
    for row in (["Mã trường", "Giá trị"], ["so_sang_kien", 4], ["Số đoàn viên mới kết nạp", "5"]):
        workbook.active.append(row)
    path = tmp_path / "mot-don-vi.xlsx"
    workbook.save(path)
    assert read_form_file(path, fields, unit_code="BDH.D1.1") == {"so_sang_kien": 4, "so_doan_vien_moi": "5"}
    template = fill(make_template(loaded.engine, tmp_path), {FIRST_ROW + 2: {"so_sang_kien": 9, "so_doan_vien_moi": 1}})
    assert read_form_file(template, fields, unit_code="BDH.D1.3") == {"so_sang_kien": 9, "so_doan_vien_moi": 1}
    with pytest.raises(UnreadableFile, match="không có dòng nào của đơn vị 'BDH.D2.1'"):
        read_form_file(template, fields, unit_code="BDH.D2.1")
