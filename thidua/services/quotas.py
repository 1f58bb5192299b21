"""Per-unit quotas (chỉ tiêu giao cho từng đơn vị) kept by federations in spreadsheets: one row per unit with
its code and its quota. Read from XLSX (first sheet) or CSV; every problem names file, row and column."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any, Iterable, Sequence

from thidua.models.sheet_headers import header_key
from thidua.models.spec.problems import Problem

CODE_HEADERS = {header_key(h) for h in ("ma_don_vi", "Mã đơn vị")}
VALUE_HEADERS = {header_key(h) for h in ("chi_tieu", "Chỉ tiêu", "Chỉ tiêu giao")}


def _rows(path: Path) -> Iterable[Sequence[Any]]:
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
            handle.seek(0)
            return list(csv.reader(handle, delimiter=max((",", ";", "\t"), key=first.count)))
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        return [tuple(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def read_quotas(path: Path) -> tuple[dict[str, float], dict[str, int], list[Problem]]:
    """(quota by unit code, spreadsheet row of each code, problems). Row 1 is the header."""
    file = str(path)
    try:
        rows = list(_rows(path))
    except (OSError, zipfile.BadZipFile, ValueError, KeyError) as exc:
        return {}, {}, [Problem(file, None, "", f"không đọc được tệp chỉ tiêu: {exc}")]
    if not rows:
        return {}, {}, [Problem(file, None, "", "tệp chỉ tiêu rỗng: cần dòng tiêu đề 'Mã đơn vị', 'Chỉ tiêu'")]
    header = [header_key(str(c)) if c is not None else "" for c in rows[0]]
    code_col = next((i for i, h in enumerate(header) if h in CODE_HEADERS), None)
    value_col = next((i for i, h in enumerate(header) if h in VALUE_HEADERS), None)
    problems = []
    if code_col is None:
        problems.append(Problem(file, 1, "Mã đơn vị", "thiếu cột 'Mã đơn vị' (ma_don_vi)"))
    if value_col is None:
        problems.append(Problem(file, 1, "Chỉ tiêu", "thiếu cột 'Chỉ tiêu' (chi_tieu)"))
    if problems:
        return {}, {}, problems
    assert code_col is not None and value_col is not None
    value_label = str(rows[0][value_col])
    quotas: dict[str, float] = {}
    lines: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        cells = list(row) + [None] * (max(code_col, value_col) + 1 - len(row))
        code, value = cells[code_col], cells[value_col]
        if (code is None or str(code).strip() == "") and (value is None or str(value).strip() == ""):
            continue
        code = str(code or "").strip()
        if not code:
            problems.append(Problem(file, number, str(rows[0][code_col]), "thiếu mã đơn vị"))
            continue
        if code in lines:  # a repeated code is reported even when its first row was refused
            problems.append(
                Problem(file, number, str(rows[0][code_col]), f"đơn vị '{code}' đã có chỉ tiêu ở dòng {lines[code]}")
            )
            continue
        lines[code] = number
        try:
            number_value = float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError):
            problems.append(
                Problem(file, number, value_label, f"chỉ tiêu phải là số: '{value if value is not None else ''}'")
            )
            continue
        if number_value < 0:
            problems.append(Problem(file, number, value_label, "chỉ tiêu không được âm"))
            continue
        quotas[code] = number_value
    return quotas, lines, problems
