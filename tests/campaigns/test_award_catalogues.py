"""Award catalogues with effective dates: a 2024 campaign spans QĐ 1689/2019 (to 28/05/2024) and QĐ 999/2024
(from 29/05/2024); a nomination uses the catalogue in force on its date, and keeps it afterwards."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from thidua.models.awards import DossierEntry
from thidua.models.nominations import Nomination
from thidua.models.spec.problems import SpecError
from thidua.services import nominations as nom
from thidua.services.campaigns import load_campaign
from tests.factories import small_binh_dinh

FILE = Path(__file__).parent / "v2" / "two_catalogues.yaml"


@pytest.fixture
def world(engine):
    with Session(engine) as session:
        units = {code: unit.id for code, unit in small_binh_dinh(session).items()}
        session.commit()
    campaign_id = load_campaign(engine, FILE).campaign_id
    return engine, campaign_id, units


def _propose(engine, campaign_id: int, units: dict[str, int], now: datetime) -> int:
    proposal = nom.ProposalInput(
        award_code="giay-khen-cdcs",
        subject="individual",
        nominee_unit_id=units["BDH.D1.1"],
        achievement="Có sáng kiến",
        occasion="ad_hoc",
        round_number=None,
        person_name="Nguyễn Văn A",
        dossier={"bao-cao-thanh-tich": DossierEntry("BC số 01")},
    )
    result = nom.propose(
        engine,
        campaign_id,
        nom.Actor(units["BDH.D1.1"], "cdcs@example.vn"),
        [proposal],
        rating=lambda *_: "Hoàn thành tốt nhiệm vụ",
        now=now,
    )
    return result.nomination_ids[0]


def test_the_catalogue_in_force_on_the_nomination_date(world):
    engine, campaign_id, units = world
    before = _propose(engine, campaign_id, units, datetime(2024, 5, 28, 9))
    after = _propose(engine, campaign_id, units, datetime(2024, 5, 29, 9))
    with Session(engine) as session:
        codes = dict(session.execute(select(Nomination.id, Nomination.catalogue_code)).all())
        assert codes == {before: "qd1689-2019", after: "qd999-2024"}
        later = nom._context(session, campaign_id, datetime(2024, 6, 10, 9))
        assert later.catalogue.code == "qd999-2024"
        assert later.catalogue_for({"catalogue_code": "qd1689-2019"}).code == "qd1689-2019"  # kept afterwards


def test_overlapping_or_uncovered_catalogues_are_refused(engine, tmp_path):
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    text = FILE.read_text(encoding="utf-8").replace("    - awards/qd999_2024.yaml    # từ 29/05/2024\n", "")
    text = text.replace("ends: 31/12/2024", "ends: 31/12/2024\n")
    path = tmp_path / "campaigns" / "mot.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_campaign(engine, path)
    [problem] = caught.value.problems
    assert problem.field == "awards.catalogues" and "31/12/2024" in problem.message
