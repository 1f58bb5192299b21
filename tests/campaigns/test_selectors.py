"""Selecting units by attribute, place in the tree and cluster: who owes an obligation, whose reports count,
what a share divides by, and breakdowns per attribute value and per cụm/khối thi đua."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from thidua.models.spec.problems import SpecError
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.services.campaigns import load_campaign
from thidua.services.submissions import submit_report
from thidua.services.targets import target_progress
from tests.factories import small_binh_dinh

FILE = Path(__file__).parent / "v2" / "selectors.yaml"
ATTRIBUTES = {
    "BDH.D1.1": {"so_huu": "FDI", "du_dk_nu_cong": True},
    "BDH.D1.2": {"so_huu": "nhà nước", "du_dk_nu_cong": False},
    "BDH.D1.3": {"so_huu": "ngoài nhà nước", "du_dk_nu_cong": True},
    "BDH.D2.1": {"so_huu": "FDI", "du_dk_nu_cong": True},
    "BDH.D2.2": {"so_huu": "ngoài nhà nước"},
    "BDH.D2.3": {"so_huu": "nhà nước", "du_dk_nu_cong": True},
}


@pytest.fixture
def loaded(engine):
    with Session(engine) as session:
        small_binh_dinh(session)
        for code, attributes in ATTRIBUTES.items():
            session.execute(update(Unit).where(Unit.code == code).values(attributes=attributes))
        session.execute(update(Unit).where(Unit.code == "BDH.D1").values(cluster="Cụm thi đua số 1"))
        session.execute(update(Unit).where(Unit.code == "BDH.D2").values(cluster="Cụm thi đua số 2"))
        session.commit()
    load_campaign(engine, FILE)
    return engine


def owing(engine, obligation: str) -> list[str]:
    with Session(engine) as session:
        return sorted(
            session.execute(
                select(Unit.code)
                .join(Assignment, Assignment.unit_id == Unit.id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .where(ObligationDef.code == obligation, Assignment.active.is_(True))
            ).scalars()
        )


def test_obligations_select_by_attribute_children_and_subtree(loaded):
    assert owing(loaded, "bao-cao-dn") == ["BDH.D1.1", "BDH.D1.3", "BDH.D2.1", "BDH.D2.2"]
    assert owing(loaded, "bao-cao-truc-thuoc") == ["BDH.D1", "BDH.D2"]  # direct children of the province only
    assert owing(loaded, "bao-cao-d1") == ["BDH.D1.1", "BDH.D1.2", "BDH.D1.3"]


def test_changed_attribute_moves_the_unit_out_on_reload(loaded):
    with Session(loaded) as session:
        session.execute(update(Unit).where(Unit.code == "BDH.D2.2").values(attributes={"so_huu": "nhà nước"}))
        session.commit()
    result = load_campaign(loaded, FILE)
    assert result.assignments_deactivated == 1
    assert owing(loaded, "bao-cao-dn") == ["BDH.D1.1", "BDH.D1.3", "BDH.D2.1"]


def test_denominator_numerator_and_breakdowns(loaded):
    with Session(loaded) as session:
        for code, has, women in (
            ("BDH.D1.1", True, 10),
            ("BDH.D1.2", True, 5),
            ("BDH.D1.3", True, 7),
            ("BDH.D2.1", True, 20),
            ("BDH.D2.3", False, 8),
        ):
            submit_report(
                session,
                campaign_code="chon-don-vi",
                obligation_code="nu-cong",
                unit_code=code,
                raw={"co_ban_nu_cong": has, "so_nu": women},
                actor=code,
                now=datetime(2023, 6, 1, 3, tzinfo=timezone.utc),
            )
        session.commit()
        targets = {t.code: t for t in target_progress(session, campaign_code="chon-don-vi", at=date(2023, 7, 1))}
    eligible = targets["ban-nu-cong"]
    figure = eligible.scope[0].progress.figure
    # eligible: D1.1, D1.3, D2.1, D2.3; with a committee: D1.1, D1.3, D2.1 (D1.2 has one but is not eligible)
    assert (figure.units_meeting, figure.units_owing, figure.value) == (3, 4, pytest.approx(75.0))
    every_cdcs = targets["ban-nu-cong-moi-cdcs"].scope[0].progress.figure
    assert (every_cdcs.units_meeting, every_cdcs.units_owing) == (4, 6)  # the old way: 66.7 %
    assert eligible.groups_by == "thuộc tính so_huu"
    by_ownership = {
        r.unit_code: (r.progress.figure.units_meeting, r.progress.figure.units_owing) for r in eligible.groups
    }
    assert by_ownership == {"FDI": (2, 2), "ngoài nhà nước": (1, 1), "nhà nước": (0, 1)}
    assert targets["nu-fdi"].scope[0].progress.figure.value == 30  # D1.1 + D2.1 only


def test_cluster_breakdown(loaded, tmp_path):
    text = FILE.read_text(encoding="utf-8").replace("    breakdown_attribute: so_huu\n", "")
    path = tmp_path / "campaigns" / "c.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    load_campaign(loaded, path)
    with Session(loaded) as session:
        for code in ("BDH.D1.1", "BDH.D1.3", "BDH.D2.1"):
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
    assert eligible.groups_by == "cụm/khối thi đua (cap_tren_truc_tiep)"
    assert [(r.unit_code, r.progress.figure.units_meeting, r.progress.figure.units_owing) for r in eligible.groups] == [
        ("Cụm thi đua số 1", 2, 2),
        ("Cụm thi đua số 2", 1, 2),
    ]


def test_unknown_attribute_and_unit_are_located(loaded, tmp_path):
    text = FILE.read_text(encoding="utf-8").replace("so_huu: [ngoài nhà nước, FDI]", "so_huu: [tư nhân]")
    text = text.replace("children_of: BDH}", "children_of: XYZ}").replace("du_dk_nu_cong: true", "mau: do")
    path = tmp_path / "campaigns" / "bad.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_campaign(loaded, path)
    found = {(p.line, p.field) for p in caught.value.problems}
    lines = text.splitlines()
    line_of = lambda part: next(i for i, line in enumerate(lines, 1) if part in line)  # noqa: E731
    assert (line_of("tư nhân"), "obligations[0].where.attributes.so_huu") in found
    assert (line_of("XYZ"), "obligations[1].where.children_of") in found
    assert (line_of("mau: do"), "targets[0].denominator.where.attributes.mau") in found


def test_selectors_and_ratios_on_sqlite_and_postgresql(any_engine, tmp_path):
    """JSON attribute conditions (choice, bool, number, tags) and attribute denominators on both databases."""
    with Session(any_engine) as session:
        small_binh_dinh(session)
        for code, attributes in ATTRIBUTES.items():
            extra = {
                "so_doan_vien": 10 * int(code[-1]),
                "nhan": ["khu công nghiệp"] if code.endswith(".1") else ["khác"],
            }
            session.execute(update(Unit).where(Unit.code == code).values(attributes={**attributes, **extra}))
        session.commit()
    text = FILE.read_text(encoding="utf-8").replace(
        "    where: {under: BDH.D1}\n", "    where: {attributes: {nhan: khu công nghiệp, so_doan_vien: [10, 30]}}\n"
    )
    text += (
        "  - code: ty-le\n    title: Tỉ lệ\n    rollup: ratio\n    value: 50\n    deadline: 31/12/2023\n"
        "    source: {obligations: [nu-cong], field: so_nu, denominator_attribute: so_doan_vien}\n"
    )
    path = tmp_path / "campaigns" / "c.yaml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    load_campaign(any_engine, path)
    assert owing(any_engine, "bao-cao-dn") == ["BDH.D1.1", "BDH.D1.3", "BDH.D2.1", "BDH.D2.2"]
    assert owing(any_engine, "bao-cao-d1") == ["BDH.D1.1", "BDH.D2.1"]  # tag and so_doan_vien 10 (…1 units)
    with Session(any_engine) as session:
        for code, women in (("BDH.D1.1", 4), ("BDH.D2.2", 6)):
            submit_report(
                session,
                campaign_code="chon-don-vi",
                obligation_code="nu-cong",
                unit_code=code,
                raw={"co_ban_nu_cong": True, "so_nu": women},
                actor=code,
                now=datetime(2023, 6, 1, 3, tzinfo=timezone.utc),
            )
        session.commit()
        targets = {t.code: t for t in target_progress(session, campaign_code="chon-don-vi", at=date(2023, 7, 1))}
    assert targets["ty-le"].scope[0].progress.figure.value == pytest.approx(100 * (4 + 6) / (10 + 20))
    assert targets["ban-nu-cong"].scope[0].progress.figure.units_meeting == 1  # D1.1 (D2.2 is not eligible)
