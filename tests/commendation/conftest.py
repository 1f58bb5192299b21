"""The nominations test world (Bình Định 2023, small tree) and a person's provincial Bằng khen at the province."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from tests.conftest import CONFIG
from thidua.models.tables import Campaign
from tests.nominations.conftest import World, build_world, world, world_template  # noqa: F401  (fixtures)

PERSON_AWARD = "bang-khen-ldld-tinh"


def person_at_province(world: World, name: str = "Nguyễn Văn An", cdcs: str = "BDH.D1.1") -> int:  # noqa: F811
    """A person's Bằng khen proposed by a CĐCS, approved by its district and sent to the province."""
    district = cdcs.rsplit(".", 1)[0]
    (nomination_id,) = world.propose(cdcs, world.proposal(PERSON_AWARD, cdcs, person=name), send=f"05/TTr-{cdcs}")
    world.approve(district, [nomination_id], datetime(2023, 11, 15, 9))
    world.send(district, f"40/TTr-{district}", datetime(2023, 11, 16, 9))
    return nomination_id


def require_evidence(world: World, folder: Path) -> Path:  # noqa: F811
    """Point the campaign at a copy of its catalogue where the person's báo cáo thành tích file is required."""
    return use_catalogue(
        world, folder, {"{item: bao-cao-thanh-tich, required: false}": "{item: bao-cao-thanh-tich}"}, count=-1
    )


def use_catalogue(world: World, folder: Path, changes: dict[str, str], count: int = -1) -> Path:  # noqa: F811
    """Point the campaign at a copy of qd1689 with the given text replacements (each must occur)."""
    text = (CONFIG / "awards" / "qd1689_2019.yaml").read_text(encoding="utf-8")
    for old, new in changes.items():
        assert old in text, old
        text = text.replace(old, new, count)
    path = folder / "awards" / f"qd1689_sua_{len(list(folder.glob('awards/*.yaml')))}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    with Session(world.engine) as session:
        campaign = session.get(Campaign, world.campaign_id)
        campaign.spec = {**campaign.spec, "awards": {**campaign.spec["awards"], "catalogue": str(path)}}
        session.add(campaign)
        session.commit()
    return path


def docx_bytes(text: str = "Báo cáo thành tích của đồng chí Nguyễn Văn An") -> bytes:
    from docx import Document

    document = Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stored files (evidence, documents) go under the test's own data directory."""
    from thidua.settings import get_settings

    folder = tmp_path / "data"
    monkeypatch.setenv("THIDUA_DATA_DIR", str(folder))
    get_settings.cache_clear()
    yield folder
    get_settings.cache_clear()
