"""Targets broken down by cụm/khối read the campaign year's membership (the unit label where there is none); a
catalogue naming an unknown level in 'cluster_rank' is refused with its place."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session

from tests.conftest import CONFIG
from tests.factories import small_binh_dinh
from thidua.models.spec.awards import validate_catalogue_file
from thidua.models.spec.problems import SpecError
from thidua.models.tables import Unit
from thidua.services import clusters as svc
from thidua.services.campaigns import load_campaign
from thidua.services.submissions import submit_report
from thidua.services.targets import target_progress

SELECTORS = Path(__file__).parents[1] / "campaigns" / "v2" / "selectors.yaml"


def test_cluster_breakdown_follows_the_membership_of_the_campaign_year(engine, tmp_path: Path) -> None:
    with Session(engine) as session:
        small_binh_dinh(session)
        session.execute(update(Unit).where(Unit.code == "BDH.D1").values(cluster="Cụm thi đua số 1"))
        session.execute(update(Unit).where(Unit.code == "BDH.D2").values(cluster="Cụm thi đua số 2"))
        for code in ("BDH.D1.1", "BDH.D1.3", "BDH.D2.1", "BDH.D2.3"):
            session.execute(update(Unit).where(Unit.code == code).values(attributes={"du_dk_nu_cong": True}))
        session.commit()
    text = SELECTORS.read_text(encoding="utf-8").replace("    breakdown_attribute: so_huu\n", "")
    path = tmp_path / "campaigns" / "c.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    load_campaign(engine, path)
    clusters = tmp_path / "cum.yaml"
    clusters.write_text(
        "clusters:\n  - {code: CUM-CHUNG, name: Cụm chung, year: 2023, head: BDH.D1, members: [BDH.D1]}\n"
        "  - {code: CUM-2024, name: Cụm năm sau, year: 2024, head: BDH.D2, members: [BDH.D2]}\n",
        encoding="utf-8",
    )
    svc.import_clusters(engine, clusters)
    with Session(engine) as session:
        for code in ("BDH.D1.1", "BDH.D2.1"):
            submit_report(
                session,
                campaign_code="chon-don-vi",
                obligation_code="nu-cong",
                unit_code=code,
                raw={"co_ban_nu_cong": True},
                actor=code,
                now=datetime(2023, 6, 1, 3, tzinfo=timezone.utc),
            )
        session.commit()
        [eligible] = target_progress(
            session, campaign_code="chon-don-vi", at=date(2023, 7, 1), target_code="ban-nu-cong"
        )
    groups = {r.unit_code: (r.progress.figure.units_meeting, r.progress.figure.units_owing) for r in eligible.groups}
    # D1 is a member of 'Cụm chung' in 2023; D2 has no 2023 membership, so its label counts (not its 2024 cluster)
    assert groups == {"Cụm chung": (1, 2), "Cụm thi đua số 2": (1, 2)}


def test_catalogue_cluster_rank_with_an_unknown_level_is_located(tmp_path: Path) -> None:
    text = (CONFIG / "awards" / "qd1689_2019.yaml").read_text(encoding="utf-8")
    broken = text.replace(
        "{kind: cluster_rank, top: 1, levels: [cap_tren_truc_tiep]}", "{kind: cluster_rank, top: 1, levels: [huyen]}"
    )
    assert broken != text
    path = tmp_path / "awards.yaml"
    path.write_text(broken, encoding="utf-8")
    line = next(i for i, row in enumerate(broken.splitlines(), 1) if "levels: [huyen]" in row)
    with pytest.raises(SpecError) as caught:
        validate_catalogue_file(path, levels_top_down=["tong_ldld", "ldld_tinh", "cap_tren_truc_tiep", "cdcs"])
    assert any(p.line == line and "không có cấp 'huyen'" in p.message for p in caught.value.problems), caught.value
