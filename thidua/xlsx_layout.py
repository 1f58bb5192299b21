"""Print setup and cell types shared by every XLSX the engine writes (reports, proposal list, award register).

An office prints these sheets or turns them into PDF: A4, landscape when the columns are wider than a portrait
page, every column on one page width (as many pages tall as needed), the header row repeated on each page,
"Trang x/y" in the footer. Dates are real date cells (dd/mm/yyyy), whole numbers use an integer format.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from thidua.models.vnformat import XLSX_DATE, XLSX_DATETIME, XLSX_DECIMAL, XLSX_INTEGER

# Column widths (characters) a portrait A4 page holds at 100 % with 1.5 cm margins; wider sheets turn landscape.
PORTRAIT_CHARACTERS = 95


def number_format_for(value: Any, *, percent: bool = False) -> str:
    if isinstance(value, datetime):
        return XLSX_DATETIME
    if isinstance(value, date):
        return XLSX_DATE
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "General"
    if percent:
        return "0.0"
    return XLSX_INTEGER if isinstance(value, int) or float(value).is_integer() else XLSX_DECIMAL


def typed(value: Any) -> Any:
    """A whole float as an int (8000.0 reads '8.000', not '8.000,'); other values unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def set_formats(ws: Any, first_row: int) -> None:  # noqa: ANN401
    """Give every date and number cell from `first_row` down the format of its value: dates dd/mm/yyyy
    (openpyxl's default is ISO), numbers by kind; other explicit formats are kept."""
    for row in ws.iter_rows(min_row=first_row):
        for cell in row:
            if isinstance(cell.value, (date, datetime)) or (cell.number_format == "General" and cell.value is not None):
                fmt = number_format_for(cell.value)
                if fmt != "General":
                    cell.number_format = fmt


def fit_row_heights(ws: Any, first_row: int, *, line_pt: float = 15.0) -> None:  # noqa: ANN401
    """Row heights for wrapped text, from the column widths: LibreOffice does not grow rows of an imported
    workbook by itself, so long names would overlap the next row in print and PDF."""
    from openpyxl.utils import get_column_letter

    widths = {c: (ws.column_dimensions[get_column_letter(c)].width or 8.43) for c in range(1, ws.max_column + 1)}
    for row in ws.iter_rows(min_row=first_row):
        lines = 1
        for cell in row:
            if isinstance(cell.value, str) and cell.value:
                room = max(1.0, widths.get(cell.column, 8.43) * 1.1 - 1)
                lines = max(lines, sum(-(-max(1, len(part)) // int(room)) for part in cell.value.split("\n")))
        if row[0].row == first_row:  # the header row: bold, and given some air
            ws.row_dimensions[row[0].row].height = line_pt * (lines + 1)
        elif lines > 1:
            ws.row_dimensions[row[0].row].height = line_pt * lines


def print_setup(ws: Any, *, header_row: int, landscape: bool | None = None) -> None:  # noqa: ANN401
    """A4, fit all columns to the page width, repeat rows 1..`header_row`'s header on every page, page numbers.
    `landscape` None: chosen from the column widths. Rows from the header down get heights for their
    wrapped text."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.page import PageMargins

    last_column = max(ws.max_column, 1)
    total = sum((ws.column_dimensions[get_column_letter(c)].width or 8.43) for c in range(1, last_column + 1))
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = (
        ("landscape" if total > PORTRAIT_CHARACTERS else "portrait")
        if landscape is None
        else ("landscape" if landscape else "portrait")
    )
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as the rows need
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.print_options.horizontalCentered = True
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.7, header=0.3, footer=0.3)
    ws.oddFooter.center.text = "Trang &P/&N"
    ws.oddFooter.center.size = 9
    fit_row_heights(ws, header_row)
