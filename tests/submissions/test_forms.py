"""validate_form: typed and textual input, every error named by field, sector-specific fields."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from thidua.models.forms import FieldError, applicable_fields, format_value, validate_form
from thidua.models.spec.campaign import FormField
from thidua.models.spec.validate import validate_campaign_text
from thidua.settings import CONFIG_DIR

pytestmark = pytest.mark.domain  # pure rules: `make test-fast`


def field(**kw) -> FormField:
    base = {"code": "so_lieu", "label": "Số liệu", "type": "integer"}
    return FormField(**(base | kw))


@pytest.fixture(scope="module")
def round_fields() -> list[FormField]:
    path = CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml"
    spec, _ = validate_campaign_text(path.read_text(encoding="utf-8"), str(path))
    return next(o for o in spec.obligations if o.code == "so-ket-dot-1").fields


def test_spreadsheet_strings_become_typed_values(round_fields):
    clean, errors = validate_form(
        round_fields,
        {"so_sang_kien": "12", "so_doan_vien_moi": " 1.234 ", "gia_tri_lam_loi": "12,5", "guong_dien_hinh": 2023.0},
        sector="sxkd",
    )
    assert errors == []
    assert clean == {"so_sang_kien": 12, "so_doan_vien_moi": 1234, "gia_tri_lam_loi": 12.5, "guong_dien_hinh": "2023"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("12,5", 12.5),
        ("12.5", 12.5),
        ("1.234,5", 1234.5),
        ("1,234.5", 1234.5),
        ("1.234.567", 1234567.0),
        ("1 234,25", 1234.25),
        (7, 7.0),
        (2.75, 2.75),
    ],
)
def test_decimal_spellings(text, expected):
    clean, errors = validate_form([field(type="decimal")], {"so_lieu": text}, sector=None)
    assert errors == [] and clean["so_lieu"] == pytest.approx(expected)


@pytest.mark.parametrize(
    "value, reason",
    [
        ("abc", "phải là số nguyên, nhận 'abc'"),
        ("12.5", "phải là số nguyên, nhận '12.5'"),
        (3.5, "phải là số nguyên, nhận '3.5'"),
        (True, "phải là số nguyên"),
        ([1], "phải là số nguyên"),
    ],
)
def test_integer_refusals_name_the_value(value, reason):
    clean, errors = validate_form([field()], {"so_lieu": value}, sector=None)
    assert clean == {}
    assert len(errors) == 1 and errors[0].field == "so_lieu" and reason in errors[0].message


def test_range_checks_give_the_limit_and_the_value():
    f = field(min=0, max=100)
    _, low = validate_form([f], {"so_lieu": -1}, sector=None)
    _, high = validate_form([f], {"so_lieu": "101"}, sector=None)
    assert low[0].message == "giá trị -1 nhỏ hơn mức tối thiểu 0"
    assert high[0].message == "giá trị 101 lớn hơn mức tối đa 100"
    assert validate_form([f], {"so_lieu": "100"}, sector=None) == ({"so_lieu": 100}, [])


def test_all_errors_are_reported_at_once_with_label(round_fields):
    clean, errors = validate_form(
        round_fields, {"so_sang_kien": "nhiều", "so_cdcs_thanh_lap": 5000, "khong_co": 1}, sector="hcsn"
    )
    by_field = {e.field: e for e in errors}
    assert set(by_field) == {"so_sang_kien", "so_doan_vien_moi", "so_cdcs_thanh_lap", "khong_co"}
    assert by_field["so_doan_vien_moi"].message == "bắt buộc nhập nhưng đang để trống"
    assert str(by_field["so_sang_kien"]) == "Số sáng kiến trong đợt [so_sang_kien]: phải là số nguyên, nhận 'nhiều'"
    assert by_field["khong_co"].message == "không có trường này trong biểu mẫu"
    assert clean == {}


def test_blank_strings_count_as_missing():
    _, errors = validate_form([field(required=True)], {"so_lieu": "   "}, sector=None)
    assert errors == [FieldError("so_lieu", "bắt buộc nhập nhưng đang để trống", "Số liệu")]
    assert validate_form([field()], {"so_lieu": ""}, sector=None) == ({}, [])


def test_fields_of_another_sector_are_not_asked_and_ignored(round_fields):
    raw = {"so_sang_kien": 1, "so_doan_vien_moi": 2, "gia_tri_lam_loi": "không phải số", "so_mo_hinh_cai_cach": 3}
    clean, errors = validate_form(round_fields, raw, sector="hcsn")
    assert errors == [] and "gia_tri_lam_loi" not in clean and clean["so_mo_hinh_cai_cach"] == 3
    clean, errors = validate_form(round_fields, raw, sector="sxkd")
    assert [e.field for e in errors] == ["gia_tri_lam_loi"] and "so_mo_hinh_cai_cach" not in clean
    # A unit without a sector (a directly-superior union) is asked both.
    codes = {f.code for f in applicable_fields(round_fields, None)}
    assert {"gia_tri_lam_loi", "so_mo_hinh_cai_cach"} <= codes


def test_choice_matches_despite_case_and_spacing():
    f = field(type="choice", choices=["Hoàn thành tốt nhiệm vụ", "Hoàn thành nhiệm vụ"])
    clean, errors = validate_form([f], {"so_lieu": "  hoàn thành   TỐT nhiệm vụ"}, sector=None)
    assert errors == [] and clean["so_lieu"] == "Hoàn thành tốt nhiệm vụ"
    _, errors = validate_form([f], {"so_lieu": "Xuất sắc"}, sector=None)
    assert (
        "'Xuất sắc' không thuộc danh sách cho phép: 'Hoàn thành tốt nhiệm vụ'; 'Hoàn thành nhiệm vụ'"
        in errors[0].message
    )


@pytest.mark.parametrize(
    "value, expected",
    [("có", True), ("Không", False), ("x", True), ("KO", False), (1, True), (0, False), (True, True), ("true", True)],
)
def test_bool_words(value, expected):
    assert validate_form([field(type="bool")], {"so_lieu": value}, sector=None) == ({"so_lieu": expected}, [])


def test_bool_refusal():
    _, errors = validate_form([field(type="bool")], {"so_lieu": "có lẽ"}, sector=None)
    assert errors[0].message == "phải là 'có' hoặc 'không', nhận 'có lẽ'"


@pytest.mark.parametrize("value", ["15/03/2023", "2023-03-15", date(2023, 3, 15), datetime(2023, 3, 15, 8, 0)])
def test_dates(value):
    assert validate_form([field(type="date")], {"so_lieu": value}, sector=None) == ({"so_lieu": "2023-03-15"}, [])


def test_bad_date_names_the_format():
    _, errors = validate_form([field(type="date")], {"so_lieu": "31/02/2023"}, sector=None)
    assert errors[0].message == "phải là ngày dạng dd/mm/yyyy, nhận '31/02/2023'"


def test_text_length_limit():
    f = field(type="text", max_length=5)
    assert validate_form([f], {"so_lieu": " abcde "}, sector=None) == ({"so_lieu": "abcde"}, [])
    _, errors = validate_form([f], {"so_lieu": "abcdef"}, sector=None)
    assert errors[0].message == "dài 6 ký tự, vượt mức tối đa 5 ký tự"


def test_unknown_keys_allowed_on_request():
    assert validate_form([field()], {"so_lieu": 1, "csrf": "x"}, sector=None, allow_unknown=True) == (
        {"so_lieu": 1},
        [],
    )


def test_display_formats():
    assert format_value(field(type="integer"), 1234567) == "1.234.567"
    assert format_value(field(type="decimal"), 1234.5) == "1.234,5"
    assert format_value(field(type="bool"), True) == "có"
    assert format_value(field(type="date"), "2023-03-15") == "15/03/2023"
    assert format_value(field(type="decimal"), 12.5) == "12,5"
