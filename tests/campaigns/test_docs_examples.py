"""Every YAML example of docs/campaign-language.md loads: the first is a whole file, each later one replaces
top-level keys of the first."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import update
from sqlmodel import Session

from ruamel.yaml import YAML

from thidua.models.tables import Unit
from thidua.services.campaigns import load_campaign
from thidua.settings import REPO_ROOT
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR
from tests.factories import add_unit, unit_by_code

DOC = REPO_ROOT / "docs" / "campaign-language.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _yaml():
    return YAML(typ="safe")


def test_the_guide_has_an_example_per_construct():
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_loads(engine, tmp_path, index):
    load_levels(engine)
    import_units(engine, CONFIG_DIR / "units" / "binh_dinh.yaml")  # the province, its 19 directly-superior unions
    with Session(engine) as session:
        district = unit_by_code(session, "BDH.QNH")
        add_unit(session, "BDH.QNH.1", "CĐCS Công ty A", "cdcs", district, "sxkd")
        add_unit(session, "BDH.QNH.2", "CĐCS Trường B", "cdcs", district, "hcsn")
        session.execute(
            update(Unit).where(Unit.code == "BDH.QNH.1").values(attributes={"so_huu": "FDI", "du_dk_nu_cong": True})
        )
        session.commit()
    base = _yaml().load(BLOCKS[0])
    base.update(_yaml().load(BLOCKS[index]) if index else {})
    path = tmp_path / "campaigns" / f"vi_du_{index}.yaml"
    path.parent.mkdir()
    out = io.StringIO()
    YAML().dump(base, out)
    path.write_text(out.getvalue(), encoding="utf-8")
    result = load_campaign(engine, path)
    assert result.created and result.assignments_created > 0
