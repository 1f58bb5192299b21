"""submissions: Form files (one unit) and spreadsheets (many units)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from thidua.db import owns_transaction
from thidua.models.clock import fmt_date, utcnow
from thidua.models.forms import applies_to, fold, is_blank, validate_form
from thidua.models.spec.campaign import FormField
from thidua.models.submissions import (
    ImportRejected,
    RowProblem,
    UnknownReference,
    UnreadableFile,
)
from thidua.models.tables import Assignment, Unit
from thidua.xlsx_safety import put_cell

from .finding import _check_open, _check_window, get_campaign, get_obligation, get_unit, obligation_spec
from .submitting import SubmitResult, _apply_submissions, _Planned

# ---------------------------------------------------------------------------------------------------
# Form files (one unit) and spreadsheets (many units)
# ---------------------------------------------------------------------------------------------------
CODE_ROW_MARK = "ma_don_vi"  # the machine row of a template, under the header labels
UNIT_HEADER = "Mã đơn vị"
META_COLUMNS = [("stt", "STT"), ("ma_don_vi", UNIT_HEADER), ("ten_don_vi", "Tên đơn vị"), ("khu_vuc", "Khu vực")]


def read_form_file(path: Path, fields: Sequence[FormField], *, unit_code: str) -> dict[str, Any]:
    """One unit's form from a .yaml/.json file (field code: value) or an .xlsx file (either a two-column
    sheet of field and value, or a filled-in template from which the unit's row is taken)."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return _read_yaml_form(path)
    if suffix == ".json":
        text = _form_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UnreadableFile(f"{path}: lỗi cú pháp JSON ở dòng {exc.lineno}, cột {exc.colno}: {exc.msg}") from None
        except RecursionError:
            raise UnreadableFile(f"{path}: cấu trúc JSON lồng nhau quá sâu") from None
        return _as_form_mapping(path, data)
    if suffix == ".xlsx":
        return _read_xlsx_form(path, fields, unit_code)
    raise UnreadableFile(f"{path}: chỉ nhận tệp .yaml, .json hoặc .xlsx")


def _form_text(path: Path) -> str:
    from thidua.models.spec.problems import SpecError
    from thidua.sources import read_text_file

    try:
        return read_text_file(path)
    except SpecError as exc:
        raise UnreadableFile("; ".join(str(p) for p in exc.problems)) from None


def _read_yaml_form(path: Path) -> dict[str, Any]:
    """Read with the same guards as every declarative file (alias bombs, nesting, bad bytes: located)."""
    from thidua.models.spec.problems import SpecError
    from thidua.models.spec.yamlsource import parse_yaml

    try:
        data = parse_yaml(_form_text(path), str(path)).data
    except SpecError as exc:
        raise UnreadableFile("; ".join(str(p) for p in exc.problems)) from None
    return _as_form_mapping(path, data)


def _as_form_mapping(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UnreadableFile(f"{path}: tệp phải là các cặp 'mã trường: giá trị'")
    return {str(k): v for k, v in data.items()}


def _field_lookup(fields: Sequence[FormField]) -> dict[str, FormField]:
    """Fields by code and by label (case- and spacing-insensitive), as headers may use either."""
    out: dict[str, FormField] = {}
    for f in fields:
        out[_fold(f.code)] = f
        out[_fold(f.label)] = f
    return out


def _fold(text: Any) -> str:
    """A header or key as typed, without the '(*)' that marks required fields in the template."""
    return re.sub(r"\s*(\(\*\)|\*)$", "", fold(text))


def _read_xlsx_form(path: Path, fields: Sequence[FormField], unit_code: str) -> dict[str, Any]:
    sheet_rows = _xlsx_rows(path)
    if _find_header(sheet_rows) is not None:
        table = _parse_table(path, sheet_rows, fields)
        for row in table.rows:
            if row.unit_code == unit_code:
                return row.values
        raise UnreadableFile(f"{path}: không có dòng nào của đơn vị '{unit_code}'")
    lookup = _field_lookup(fields)
    out: dict[str, Any] = {}
    for _number, cells in sheet_rows:
        if not cells or is_blank(cells[0]):
            continue
        key = _fold(cells[0])
        if key in ("mã trường", "trường", "chỉ tiêu"):
            continue  # header row
        target = lookup.get(key)
        out[target.code if target else str(cells[0]).strip()] = cells[1] if len(cells) > 1 else None
    return out


def _xlsx_rows(path: Path) -> list[tuple[int, list[Any]]]:
    from thidua.xlsx_guard import XlsxRefused, first_sheet_rows

    try:
        return list(first_sheet_rows(path))
    except XlsxRefused as exc:
        raise UnreadableFile(f"{path}:{exc.row}: {exc}" if exc.row else f"{path}: {exc}") from None


def _find_header(rows: list[tuple[int, list[Any]]]) -> int | None:
    for index, (_, cells) in enumerate(rows[:15]):
        if any(not is_blank(c) and _fold(c) == _fold(UNIT_HEADER) for c in cells):
            return index
    return None


@dataclass
class _TableRow:
    row: int
    unit_code: str
    values: dict[str, Any]
    columns: dict[str, str]  # field code -> column letter


@dataclass
class _Table:
    rows: list[_TableRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field code -> column letter
    unit_column: str = "B"


def _parse_table(path: Path, rows: list[tuple[int, list[Any]]], fields: Sequence[FormField]) -> _Table:
    """A sheet with a header row holding 'Mã đơn vị' and the fields (by label, or by code in the machine
    row under it). Column problems are fatal; row problems are collected by the importer."""
    from openpyxl.utils import get_column_letter

    header_index = _find_header(rows)
    assert header_index is not None
    header_number, header = rows[header_index]
    body_start = header_index + 1
    if body_start < len(rows) and any(not is_blank(c) and _fold(c) == CODE_ROW_MARK for c in rows[body_start][1]):
        header_number, header = rows[body_start]
        body_start += 1
    lookup = _field_lookup(fields)
    meta = {_fold(code): code for code, _ in META_COLUMNS} | {_fold(label): code for code, label in META_COLUMNS}
    table = _Table()
    unit_index: int | None = None
    field_columns: dict[int, FormField] = {}
    for index, cell in enumerate(header):
        if is_blank(cell):
            continue
        key = _fold(cell)
        letter = get_column_letter(index + 1)
        if meta.get(key) == "ma_don_vi":
            unit_index = index
            table.unit_column = letter
        elif key in meta:
            continue
        elif key in lookup:
            if lookup[key] in field_columns.values():
                table.problems.append(RowProblem(header_number, letter, str(cell), "cột bị lặp"))
            field_columns[index] = lookup[key]
            table.columns[lookup[key].code] = letter
        else:
            table.problems.append(RowProblem(header_number, letter, str(cell), "không có trường này trong biểu mẫu"))
    for f in fields:
        if f.required and f.code not in table.columns:
            table.problems.append(RowProblem(header_number, "", f.label, f"thiếu cột bắt buộc '{f.label}' [{f.code}]"))
    if unit_index is None:
        table.problems.append(RowProblem(header_number, "", UNIT_HEADER, "thiếu cột mã đơn vị"))
    if table.problems:
        raise ImportRejected(f"{path}: bảng không đúng mẫu, chưa ghi gì:", table.problems)
    assert unit_index is not None
    for number, cells in rows[body_start:]:
        cells = cells + [None] * (len(header) - len(cells))
        values = {f.code: cells[i] for i, f in field_columns.items() if not is_blank(cells[i])}
        code = cells[unit_index]
        if is_blank(code) and not values:
            continue
        table.rows.append(_TableRow(number, "" if is_blank(code) else str(code).strip(), values, table.columns))
    return table


@dataclass
class ImportResult:
    applied: list[SubmitResult]
    problems: list[RowProblem]
    skipped_blank: list[str]  # units whose row was left empty

    def describe(self) -> str:
        lines = [f"Đã ghi {len(self.applied)} báo cáo."]
        if self.skipped_blank:
            lines.append(f"Bỏ qua {len(self.skipped_blank)} dòng để trống: {', '.join(self.skipped_blank)}")
        if self.problems:
            lines.append(f"{len(self.problems)} lỗi, các dòng lỗi không được ghi:")
            lines.extend(f"  • {p}" for p in self.problems)
        return "\n".join(lines)


@owns_transaction
def import_reports(
    session: Session,
    *,
    campaign_code: str,
    obligation_code: str,
    superior_code: str,
    path: Path,
    actor: str,
    partial: bool = False,
    accept: bool = False,
    now: datetime | None = None,
) -> ImportResult:
    """A directly-superior union enters its units' reports from a spreadsheet (one row per unit). Every
    bad row is reported with its row number and column. Without `partial` nothing is written when any row
    is bad; with it the good rows are written. `accept`: the superior vouches for the figures, so they are
    accepted on entry instead of waiting for review."""
    now = now or utcnow()
    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    superior = get_unit(session, superior_code)
    _check_open(campaign)
    _check_window(campaign, obligation, now)
    spec = obligation_spec(obligation)
    table = _parse_table(path, _xlsx_rows(path), spec.fields) if path.suffix.lower() == ".xlsx" else None
    if table is None:
        raise UnreadableFile(f"{path}: nhập hàng loạt chỉ nhận tệp .xlsx (tạo mẫu bằng 'thidua forms template')")
    codes = [r.unit_code for r in table.rows if r.unit_code]
    units = {u.code: u for u in session.execute(select(Unit).where(Unit.code.in_(codes))).scalars()} if codes else {}  # type: ignore[attr-defined]
    assignments = {
        a.unit_id: a
        for a in session.execute(
            select(Assignment).where(
                Assignment.obligation_id == obligation.id,
                Assignment.unit_id.in_([u.id for u in units.values()]),  # type: ignore[attr-defined]
            )
        ).scalars()
    }
    problems: list[RowProblem] = []
    planned: list[_Planned] = []
    blank: list[str] = []
    seen: dict[str, int] = {}
    unit_column = table.unit_column
    for row in table.rows:
        if not row.unit_code:
            problems.append(RowProblem(row.row, unit_column, UNIT_HEADER, "thiếu mã đơn vị"))
            continue
        if row.unit_code in seen:
            problems.append(
                RowProblem(
                    row.row, unit_column, UNIT_HEADER, f"đơn vị '{row.unit_code}' đã có ở dòng {seen[row.unit_code]}"
                )
            )
            continue
        seen[row.unit_code] = row.row
        unit = units.get(row.unit_code)
        if unit is None:
            problems.append(RowProblem(row.row, unit_column, UNIT_HEADER, f"không có đơn vị mã '{row.unit_code}'"))
            continue
        assignment = assignments.get(unit.id)  # type: ignore[arg-type]
        if assignment is None or not assignment.active:
            problems.append(
                RowProblem(
                    row.row, unit_column, UNIT_HEADER, f"đơn vị '{unit.code}' không phải nộp '{obligation.code}'"
                )
            )
            continue
        if assignment.reviewer_unit_id != superior.id:
            problems.append(
                RowProblem(
                    row.row,
                    unit_column,
                    UNIT_HEADER,
                    f"đơn vị '{unit.code}' không trực thuộc '{superior.code}', không được nhập thay",
                )
            )
            continue
        if not row.values:
            blank.append(unit.code)
            continue
        clean, errors = validate_form(
            spec.fields, row.values, sector=unit.sector, level=unit.level_code, attributes=unit.attributes
        )
        if errors:
            problems.extend(
                RowProblem(row.row, row.columns.get(e.field, ""), e.label or e.field, e.message) for e in errors
            )
            continue
        planned.append(_Planned(assignment, unit, clean))
    if problems and not partial:
        raise ImportRejected(
            f"{path}: có {len(problems)} lỗi, chưa ghi dòng nào (dùng --partial để ghi các dòng đúng):", problems
        )
    applied = _apply_submissions(
        session, campaign, obligation, spec, planned, actor=actor, now=now, source="import", accept=accept
    )
    return ImportResult(applied=applied, problems=problems, skipped_blank=blank)


def write_form_template(
    session: Session, *, campaign_code: str, obligation_code: str, superior_code: str, out: Path
) -> int:
    """An .xlsx to fill in for the units a superior reviews: one row per unit, its code and name filled,
    one column per field (drop-down lists and number checks from the form). Returns the number of rows."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    campaign = get_campaign(session, campaign_code)
    obligation = get_obligation(session, campaign, obligation_code)
    superior = get_unit(session, superior_code)
    spec = obligation_spec(obligation)
    units = (
        session.execute(
            select(Unit)
            .join(Assignment, Assignment.unit_id == Unit.id)
            .where(
                Assignment.obligation_id == obligation.id,
                Assignment.reviewer_unit_id == superior.id,
                Assignment.active.is_(True),  # type: ignore[attr-defined]
            )
            .order_by(Unit.path)
        )
        .scalars()
        .all()
    )
    if not units:
        raise UnknownReference(f"đơn vị '{superior.code}' không duyệt báo cáo '{obligation.code}' của đơn vị nào")

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Nhập liệu"
    lists = workbook.create_sheet("Danh mục")
    lists.sheet_state = "hidden"
    width = len(META_COLUMNS) + len(spec.fields)
    put_cell(sheet, 1, 1, f"{obligation.title} — hạn nộp {fmt_date(obligation.due_on)}").font = Font(bold=True, size=13)
    sheet.cell(
        2,
        1,
        f"Đơn vị nhập: {superior.name}. Mỗi dòng là báo cáo của một đơn vị trực thuộc; "
        "(*) là trường bắt buộc; ô màu xám không áp dụng cho khu vực của đơn vị. "
        "Không sửa dòng mã trường (dòng 4). Dòng để trống được bỏ qua.",
    ).alignment = Alignment(wrap_text=True)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    sheet.row_dimensions[2].height = 45
    header_font, code_font = Font(bold=True), Font(italic=True, size=8, color="808080")
    grey = PatternFill("solid", fgColor="D9D9D9")
    for index, (code, label) in enumerate(META_COLUMNS, start=1):
        sheet.cell(3, index, label).font = header_font
        sheet.cell(4, index, code).font = code_font
    first_row, last_row = 5, 4 + len(units)
    for offset, f in enumerate(spec.fields):
        column = len(META_COLUMNS) + 1 + offset
        letter = get_column_letter(column)
        put_cell(sheet, 3, column, f.label + (" (*)" if f.required else "")).font = header_font
        sheet.cell(3, column).alignment = Alignment(wrap_text=True, vertical="top")
        sheet.cell(4, column, f.code).font = code_font
        sheet.column_dimensions[letter].width = 18 if f.type != "text" else 30
        validation = _validation_for(f, lists, offset + 1)
        if validation is not None:
            sheet.add_data_validation(validation)
            validation.add(f"{letter}{first_row}:{letter}{last_row}")
        if f.type == "date":
            for row in range(first_row, last_row + 1):
                sheet.cell(row, column).number_format = "DD/MM/YYYY"
    sheet.row_dimensions[3].height = 48
    for row, unit in enumerate(units, start=first_row):
        sheet.cell(row, 1, row - first_row + 1)
        put_cell(sheet, row, 2, unit.code)
        put_cell(sheet, row, 3, unit.name)
        sheet.cell(row, 4, {"sxkd": "SXKD", "hcsn": "HCSN"}.get(unit.sector or "", ""))
        for offset, f in enumerate(spec.fields):
            if not applies_to(f, unit.sector):
                sheet.cell(row, len(META_COLUMNS) + 1 + offset).fill = grey
    for letter, width_chars in (("A", 5), ("B", 16), ("C", 36), ("D", 9)):
        sheet.column_dimensions[letter].width = width_chars
    sheet.freeze_panes = "E5"
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return len(units)


def _validation_for(f: FormField, lists: Any, list_column: int):  # noqa: ANN202
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    def bounded(kind: str) -> DataValidation:
        if f.min is not None and f.max is not None:
            dv = DataValidation(type=kind, operator="between", formula1=str(f.min), formula2=str(f.max))
        elif f.min is not None:
            dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1=str(f.min))
        elif f.max is not None:
            dv = DataValidation(type=kind, operator="lessThanOrEqual", formula1=str(f.max))
        else:
            dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1="-1E+300")
        dv.error = f"{f.label}: phải là số" + ("" if kind == "decimal" else " nguyên") + _range_text(f)
        return dv

    if f.type == "integer":
        dv = bounded("whole")
    elif f.type == "decimal":
        dv = bounded("decimal")
    elif f.type in ("choice", "bool"):
        options = f.choices if f.type == "choice" else ["có", "không"]
        letter = get_column_letter(list_column)
        for row, option in enumerate(options or [], start=1):
            put_cell(lists, row, list_column, option)
        dv = DataValidation(type="list", formula1=f"='Danh mục'!${letter}$1:${letter}${len(options or [])}")
        dv.error = f"{f.label}: chọn một giá trị trong danh sách"
    elif f.type == "text" and f.max_length:
        dv = DataValidation(type="textLength", operator="lessThanOrEqual", formula1=str(f.max_length))
        dv.error = f"{f.label}: tối đa {f.max_length} ký tự"
    else:
        return None
    dv.errorTitle = "Giá trị không hợp lệ"
    dv.showErrorMessage = True
    dv.allow_blank = True
    return dv


def _range_text(f: FormField) -> str:
    if f.min is not None and f.max is not None:
        return f" từ {f.min:g} đến {f.max:g}"
    if f.min is not None:
        return f" từ {f.min:g} trở lên"
    if f.max is not None:
        return f" không quá {f.max:g}"
    return ""
