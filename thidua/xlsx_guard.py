"""Reading an uploaded .xlsx (unit lists, forms) without being fooled or flooded by it.

Refused before any row is read, each in a second at most and in little memory: a file that is not a zip, a zip
bomb (declared uncompressed size or ratio), XML with a DTD or entities (XXE, "billion laughs"), a hidden first
sheet. While reading: a sheet with more rows or columns than a declaration can have (a single cell at
XFD1048576 would otherwise make a million padded rows), a formula whose value was never computed (openpyxl
would read it as empty: a unit would silently lose its parent), a hidden row that holds data. Merged cells
are read as the value of their top-left cell, which is what a person sees.

Every refusal is an XlsxRefused carrying the cell or row address.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from thidua.errors import InvalidInputError

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_RATIO = 200  # a member expanding more than this (and past 10 MB) is a bomb, not a spreadsheet
MAX_MEMBERS = 2_000
MAX_ROWS = 300_000  # the national tree has ~131,000 units
MAX_COLUMNS = 200
_SCAN_CHUNK = 1 << 20

_DTD = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
_ROW_TAG = re.compile(rb"<(?:\w+:)?row\s[^>]*>")
_ROW_NUMBER = re.compile(rb'\br="(\d+)"')
_HIDDEN = re.compile(rb'\bhidden="(?:1|true)"')
_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")


class XlsxRefused(InvalidInputError):
    """The file cannot be read safely or faithfully; `where` is a cell or row address when there is one."""

    def __init__(self, message: str, where: str | None = None, row: int | None = None):
        self.message = message
        self.where = where
        self.row = row
        super().__init__(f"{where}: {message}" if where else message)


def column_number(letters: str) -> int:
    number = 0
    for char in letters:
        number = number * 26 + ord(char) - 64
    return number


def column_letters(number: int) -> str:
    out = ""
    while number:
        number, rest = divmod(number - 1, 26)
        out = chr(65 + rest) + out
    return out


@dataclass
class SheetFacts:
    member: str
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col
    hidden_rows: set[int] = field(default_factory=set)
    has_formulas: bool = False
    last_row: int = 0


def _check_archive(path: Path) -> zipfile.ZipFile:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise XlsxRefused(
            f"tệp Excel quá lớn ({size // (1024 * 1024)} MB; tối đa {MAX_FILE_BYTES // (1024 * 1024)} MB)"
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise XlsxRefused(
            "không đọc được tệp Excel (.xlsx): tệp hỏng hoặc định dạng khác; hãy lưu lại dưới dạng .xlsx"
        ) from None
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        archive.close()
        raise XlsxRefused(f"tệp Excel có quá nhiều thành phần ({len(members)})")
    total = sum(m.file_size for m in members)
    if total > MAX_UNCOMPRESSED_BYTES:
        archive.close()
        raise XlsxRefused(
            f"tệp Excel khi giải nén quá lớn ({total // (1024 * 1024)} MB; tối đa "
            f"{MAX_UNCOMPRESSED_BYTES // (1024 * 1024)} MB): có thể là tệp độc hại (zip bomb)"
        )
    for m in members:
        if m.file_size > 10 * 1024 * 1024 and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            archive.close()
            raise XlsxRefused(
                f"thành phần '{m.filename}' của tệp Excel nén bất thường (tỉ lệ "
                f"{m.file_size // max(m.compress_size, 1)}:1): có thể là tệp độc hại (zip bomb)"
            )
    for m in members:  # a DTD can only stand before the root element: the head of each XML part tells
        if m.filename.endswith((".xml", ".rels", ".vml")):
            with archive.open(m) as handle:
                if _DTD.search(handle.read(4096)):
                    archive.close()
                    raise XlsxRefused(
                        f"tệp Excel chứa khai báo DTD/thực thể XML trong '{m.filename}' (không bao giờ "
                        "có trong tệp Excel thật; có thể là tệp độc hại)"
                    )
    return archive


def _scan_sheet(archive: zipfile.ZipFile, member: str) -> SheetFacts:
    """Merged ranges, hidden rows and whether formulas exist, from the sheet's XML bytes (one streaming pass)."""
    facts = SheetFacts(member=member)
    tail = b""
    with archive.open(member) as handle:
        while True:
            chunk = handle.read(_SCAN_CHUNK)
            if not chunk:
                break
            data = tail + chunk
            cut = max(data.rfind(b"<"), 0)  # never split a tag between two chunks
            window, tail = data[:cut], data[cut:]
            facts.has_formulas = facts.has_formulas or bool(_FORMULA.search(window))
            for tag in _ROW_TAG.findall(window):
                number = _ROW_NUMBER.search(tag)
                if number:
                    facts.last_row = max(facts.last_row, int(number.group(1)))
                    if _HIDDEN.search(tag):
                        facts.hidden_rows.add(int(number.group(1)))
            for c1, r1, c2, r2 in _MERGE.findall(window):
                first_row, first_col = int(r1), column_number(c1.decode())
                last_row, last_col = (int(r2), column_number(c2.decode())) if c2 else (first_row, first_col)
                facts.merged.append((first_row, first_col, last_row, last_col))
        if tail:
            facts.has_formulas = facts.has_formulas or bool(_FORMULA.search(tail))
            facts.merged.extend(
                (int(r1), column_number(c1.decode()), int(r2 or r1), column_number((c2 or c1).decode()))
                for c1, r1, c2, r2 in _MERGE.findall(tail)
            )
    return facts


def _load(path: Path, data_only: bool):  # noqa: ANN202
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=data_only)
    except Exception as exc:  # defusedxml, zip and openpyxl raise many unrelated types for a hostile file
        if "Forbidden" in type(exc).__name__:
            raise XlsxRefused("tệp Excel chứa khai báo thực thể XML (có thể là tệp độc hại)") from None
        raise XlsxRefused("không đọc được tệp Excel (.xlsx): tệp hỏng hoặc không đúng định dạng") from None


def first_sheet_rows(path: Path | str) -> Iterator[tuple[int, list[Any]]]:
    """(row number, values) of the first sheet, checked as the module says. Wholly empty rows are included
    (as an empty list when the file leaves them out), so row numbers are those a spreadsheet shows."""
    path = Path(path)
    archive = _check_archive(path)
    archive.close()
    values_book = _load(path, data_only=True)
    formula_book = None
    try:
        sheet = values_book.worksheets[0] if values_book.worksheets else None
        if sheet is None:
            raise XlsxRefused("tệp Excel không có trang tính nào")
        if sheet.sheet_state != "visible":
            raise XlsxRefused(
                f"trang tính đầu tiên '{sheet.title}' đang bị ẩn: hãy hiện trang tính đó hoặc đưa "
                "trang tính cần nhập lên đầu"
            )
        with zipfile.ZipFile(path) as again:
            facts = _scan_sheet(again, sheet._worksheet_path)
        if facts.last_row > MAX_ROWS:  # refused before reading: a single far cell would mean a million rows
            raise XlsxRefused(
                f"trang tính có dữ liệu ở dòng {facts.last_row:,}, quá giới hạn {MAX_ROWS:,} dòng".replace(",", "."),
                f"dòng {facts.last_row}",
                facts.last_row,
            )
        formulas = None
        if facts.has_formulas:
            formula_book = _load(path, data_only=False)
            formula_sheet = formula_book.worksheets[0]
            formula_sheet.reset_dimensions()
            formulas = formula_sheet.iter_rows()
        sheet.reset_dimensions()  # a lying or huge <dimension> must not make us pad a million rows
        # Merged cells: every covered cell reads the value of the range's top-left cell.
        covered_by_row: dict[int, list[tuple[int, tuple[int, int]]]] = {}
        for first_row, first_col, last_row, last_col in facts.merged:
            if (last_row - first_row + 1) * (last_col - first_col + 1) > MAX_ROWS:
                raise XlsxRefused(
                    "vùng ô gộp quá lớn",
                    f"ô {column_letters(first_col)}{first_row}:{column_letters(last_col)}{last_row}",
                )
            for r in range(first_row, last_row + 1):
                for c in range(first_col, last_col + 1):
                    if (r, c) != (first_row, first_col):
                        covered_by_row.setdefault(r, []).append((c, (first_row, first_col)))
        anchors = {anchor for covered in covered_by_row.values() for _, anchor in covered}
        top_left: dict[tuple[int, int], Any] = {}
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            formula_row = next(formulas, ()) if formulas is not None else ()
            if number > MAX_ROWS:
                raise XlsxRefused(
                    f"trang tính có quá nhiều dòng (tối đa {MAX_ROWS:,})".replace(",", "."), f"dòng {number}", number
                )
            values = list(row)
            if len(values) > MAX_COLUMNS:
                extra = next((i for i in range(MAX_COLUMNS, len(values)) if values[i] not in (None, "")), None)
                if extra is not None:
                    raise XlsxRefused(
                        f"dữ liệu nằm ngoài vùng cho phép (tối đa {MAX_COLUMNS} cột)",
                        f"ô {column_letters(extra + 1)}{number}",
                        number,
                    )
                values = values[:MAX_COLUMNS]
            for cell in formula_row:
                if getattr(cell, "data_type", None) == "f":
                    column = cell.column
                    if column <= len(values) and values[column - 1] is None:
                        raise XlsxRefused(
                            f"ô chứa công thức ({str(cell.value)[:60]}) nhưng chưa có giá trị đã tính: hãy mở tệp bằng "
                            "Excel/LibreOffice rồi lưu lại, hoặc thay công thức bằng giá trị",
                            f"ô {column_letters(column)}{number}",
                            number,
                        )
            if number in facts.hidden_rows and any(v not in (None, "") for v in values):
                raise XlsxRefused(
                    "dòng đang bị ẩn nhưng có dữ liệu: hãy hiện dòng đó (để kiểm tra) hoặc xoá nó",
                    f"dòng {number}",
                    number,
                )
            if anchors:
                for column, value in enumerate(values, start=1):
                    if (number, column) in anchors:
                        top_left[(number, column)] = value
                for column, anchor in covered_by_row.get(number, ()):
                    values.extend([None] * (column - len(values)))
                    if values[column - 1] in (None, ""):
                        values[column - 1] = top_left.get(anchor)
            yield number, values
    finally:
        values_book.close()
        if formula_book is not None:
            formula_book.close()
