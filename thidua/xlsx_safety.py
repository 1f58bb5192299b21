"""Text written into spreadsheets the office opens: never a live formula (OWASP CSV/formula injection).

A unit can type `=HYPERLINK("http://…"&B7, …)` into a text field; written as is, openpyxl stores it as a
formula and the office's spreadsheet would run it. Every XLSX writer puts values into cells through
`put` / `put_row`, which store a string starting with = + - @ tab or carriage return as plain text (and mark
the cell "quote prefix", so that editing it in a spreadsheet program keeps it text). What the unit typed is
kept exactly; numbers, dates and empty cells are written as they are.
"""

from __future__ import annotations

from copy import copy
from typing import Any, Iterable

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def put(cell: Any, value: Any) -> Any:
    """cell.value = value, with formula-like text stored as text. Returns the cell."""
    cell.value = value
    if formula_like(value):
        cell.data_type = "s"
        if cell.has_style:  # styles may be shared between cells (copied arrays): change only this cell's
            cell._style = copy(cell._style)
        cell.quotePrefix = True
    return cell


def put_cell(sheet: Any, row: int, column: int, value: Any = None) -> Any:
    """sheet.cell(row, column, value) with formula-like text stored as text."""
    return put(sheet.cell(row, column), value)


def put_row(sheet: Any, values: Iterable[Any]) -> None:
    """sheet.append(values) with formula-like text stored as text."""
    values = list(values)
    sheet.append(values)
    row = sheet.max_row
    for column, value in enumerate(values, start=1):
        if formula_like(value):
            put(sheet.cell(row, column), value)
