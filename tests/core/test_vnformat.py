"""One formatting module: the same figure prints the same on the web, in mail, in the CLI, in DOCX and XLSX."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from rich.console import Console

from thidua.models.vnformat import (
    XLSX_DECIMAL,
    XLSX_INTEGER,
    fmt_date,
    fmt_datetime,
    fmt_document_date,
    fmt_fraction,
    fmt_integer,
    fmt_money,
    fmt_number,
    fmt_percent,
    fmt_share,
)

PROSE = "1.192 đơn vị · 1.830,2 sáng kiến · 92,3 % · 1.129/1.192"


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0, 1, "0"),
        (7, 1, "7"),
        (1192, 1, "1.192"),
        (1234567, 0, "1.234.567"),
        (8000.0, 1, "8.000"),
        (1830.24, 1, "1.830,2"),
        (1830.25, 1, "1.830,3"),
        (92.25, 1, "92,3"),
        (0.5, 0, "1"),
        (-1234.5, 1, "-1.234,5"),
        (-0.04, 1, "0"),
        (Decimal("12.50"), 2, "12,5"),
        (12.345, 2, "12,35"),
        (1e9, 0, "1.000.000.000"),
    ],
)
def test_numbers_in_vietnamese_marks(value, digits, expected):
    assert fmt_number(value, digits) == expected


def test_missing_and_odd_values():
    assert fmt_number(None) == "" and fmt_number(None, missing="—") == "—"
    assert fmt_number(True) == "" and fmt_number("abc") == "" and fmt_number(float("nan")) == ""
    assert fmt_number(3, 1, fixed=True) == "3,0"
    assert fmt_percent(None) == ""
    assert fmt_share(1, 0) == "—"


def test_percent_share_fraction_money():
    assert fmt_percent(92.31) == "92,3 %"
    assert fmt_percent(100.0) == "100 %"
    assert fmt_share(1129, 1192) == "94,7 %"
    assert fmt_fraction(1129, 1192) == "1.129/1.192"
    assert fmt_money(1500000) == "1.500.000 đồng"
    assert fmt_integer(1192) == "1.192"


def test_dates_in_vietnam_time():
    moment = datetime(2023, 3, 4, 18, 30, tzinfo=timezone.utc)  # 01:30 on 05/03 in Vietnam
    assert fmt_date(date(2023, 3, 5)) == "05/03/2023"
    assert fmt_date(moment, "Asia/Ho_Chi_Minh") == "05/03/2023"
    assert fmt_datetime(moment) == "01:30 05/03/2023"
    assert fmt_datetime(None) == ""


def test_document_date_follows_decree_30():
    """Leading zero for days below 10 and for January and February only."""
    assert fmt_document_date(date(2023, 2, 5), "Bình Định") == "Bình Định, ngày 05 tháng 02 năm 2023"
    assert fmt_document_date(date(2023, 3, 15)) == "ngày 15 tháng 3 năm 2023"
    assert fmt_document_date(date(2023, 12, 1)) == "ngày 01 tháng 12 năm 2023"


def _figures_template() -> str:
    return "{{ 1192 | so }} đơn vị · {{ 1830.2 | so }} sáng kiến · {{ 92.31 | phantram }} · {{ 1129 | phan_so(1192) }}"


def test_web_pages_and_mail_templates_print_alike():
    from thidua.notifications.render import Renderer
    from thidua.web.rendering import make_templates

    web = make_templates().env.from_string(_figures_template()).render()
    mail = Renderer(strict=True).environment.from_string(_figures_template()).render()
    assert web == mail == PROSE


def test_cli_status_table_prints_alike():
    from thidua.cli.campaign import _status_table
    from thidua.services.status import Counts, StatusRow

    row = StatusRow("BDH", "Bình Định", Counts(owed=1192, submitted=1100, accepted=1129, returned=3, overdue=12))
    console = Console(width=120, record=True)
    console.print(_status_table("Theo cấp", [row], "Cấp"))
    text = console.export_text()
    assert re.search(r"1\.192\s.*1\.100\s.*1\.129\s.*92,3 %", text), text


def test_docx_and_xlsx_print_alike(tmp_path):
    from docx import Document
    from openpyxl import load_workbook

    from thidua.services.reports import ReportContent, Section, Table, write_docx, write_xlsx

    table = Table(
        title="Kết quả",
        headers=["STT", "Đơn vị", "Phải BC", "Sáng kiến", "Tỷ lệ (%)"],
        rows=[[1, "Bình Định", 1192, 1830.2, 92.31]],
        percent_columns=(4,),
    )
    content = ReportContent(
        file_stem="x",
        issuing_lines=("LĐLĐ TỈNH BÌNH ĐỊNH", "BAN CSPL&QHLĐ"),
        place="Bình Định",
        year=2023,
        title="BÁO CÁO",
        subtitle="Thử",
        as_of="08:00 ngày 05/03/2023",
        intro="",
        sections=[Section("I. KẾT QUẢ", [], [table])],
        sheets=[table],
        recipients=["- Lưu: VT."],
        signature=["TM."],
    )
    document = Document(str(write_docx(content, tmp_path / "x.docx")))
    cells = [c.text for t in document.tables for r in t.rows for c in r.cells]
    assert {"1.192", "1.830,2", "92,3"} <= set(cells), cells

    sheet = load_workbook(write_xlsx(content, tmp_path / "x.xlsx"))["Kết quả"]
    by_value = {c.value: c.number_format for r in sheet.iter_rows() for c in r if isinstance(c.value, (int, float))}
    assert by_value[1192] == XLSX_INTEGER and by_value[1830.2] == XLSX_DECIMAL
