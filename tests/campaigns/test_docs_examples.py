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
from tests.factories import small_binh_dinh

DOC = REPO_ROOT / "docs" / "campaign-language.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _yaml():
    return YAML(typ="safe")


def test_the_guide_has_an_example_per_construct():
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_loads(engine, tmp_path, index):
    with Session(engine) as session:
        small_binh_dinh(session)
        session.execute(update(Unit).where(Unit.code == "BDH.D1.1").values(attributes={"so_huu": "FDI", "du_dk_nu_cong": True}))
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
