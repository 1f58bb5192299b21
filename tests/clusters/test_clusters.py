"""Cụm/khối thi đua: membership import (located errors, all or nothing), head rotation, scoring and ranking with
ties, the head-submitted ranking, the Cờ thi đua rule, the selector and the breakdown — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import small_binh_dinh
from tests.nominations.conftest import World, FakeRating, full_dossier
from thidua.errors import InvalidInputError, NotPermittedError
from thidua.models.clusters import Cluster, ClusterMember, Scored, rank_members
from thidua.models.nominations import NominationError
from thidua.models.spec.problems import SpecError
from thidua.models.submissions import Submission
from thidua.models.tables import Assignment, AuditLog, Campaign, ObligationDef, Unit
from thidua.services import clusters as svc
from thidua.services.campaigns import load_campaign
from thidua.services.selectors import selector_clause
from thidua.services.units import load_attribute_schema

BEST, GOOD = "Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ"
NOV_10 = datetime(2023, 11, 10, 9, 0)
DEC_02 = datetime(2023, 12, 2, 9, 0)

CLUSTERS_YAML = """\
clusters:
  - code: CUM-A
    name: Cụm thi đua A
    kind: cụm
    years: [2023, 2024]
    heads: {2023: BDH.D1, 2024: BDH.D2}
    members: [BDH.D1, BDH.D2, BDH.D3]
  - code: KHOI-B
    name: Khối thi đua B
    kind: khối
    year: 2023
    head: BDH.D4
    members: [BDH.D4]
"""


def _world(engine: Engine) -> World:
    with Session(engine) as session:
        units = small_binh_dinh(session, districts=4, cdcs_per_district=2)
        session.commit()
        ids = {code: unit.id for code, unit in units.items()}
    campaign_id = load_campaign(engine, BINH_DINH_CAMPAIGN).campaign_id
    with Session(engine) as session:
        registration = select(ObligationDef.id).where(ObligationDef.kind == "registration")  # type: ignore[call-overload]
        session.execute(
            Assignment.__table__.update().where(Assignment.obligation_id.in_(registration)).values(status="da_duyet")
        )  # type: ignore[attr-defined]
        session.commit()
    return World(engine, campaign_id, ids, FakeRating())  # type: ignore[arg-type]


def _write(tmp_path: Path, text: str, name: str = "cum.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _report(world: World, unit: str, obligation: str, data: dict, appraised: str | None = None) -> None:
    """An accepted report of `unit` for `obligation`, as the reviewer left it."""
    with Session(world.engine) as session:
        (ob_id,) = session.execute(select(ObligationDef.id).where(ObligationDef.code == obligation)).one()  # type: ignore[call-overload]
        (assignment_id,) = session.execute(
            select(Assignment.id).where(
                Assignment.obligation_id == ob_id,  # type: ignore[call-overload]
                Assignment.unit_id == world.units[unit],
            )
        ).one()
        session.execute(
            insert(Submission.__table__).values(  # type: ignore[attr-defined]
                assignment_id=assignment_id,
                obligation_id=ob_id,
                unit_id=world.units[unit],
                version=1,
                data=data,
                submitted_by="t@example.vn",
                submitted_at=datetime(2023, 11, 1, tzinfo=timezone.utc),
                source="cli",
                late=False,
                review_status="da_duyet",
                reviewed_by="r@example.vn",
                reviewed_at=datetime(2023, 11, 2, tzinfo=timezone.utc),
                appraised_rating=appraised,
            )
        )
        session.commit()


def _year_end(world: World, unit: str, sang_kien: int, appraised: str) -> None:
    _report(
        world,
        unit,
        "tong-ket-nam",
        {"so_sang_kien": sang_kien, "so_doan_vien_moi": 0, "cong_trinh_hoan_thanh": False, "xep_loai_de_nghi": BEST},
        appraised,
    )


@pytest.fixture
def world(any_engine: Engine, tmp_path: Path) -> World:
    built = _world(any_engine)
    svc.import_clusters(any_engine, _write(tmp_path, CLUSTERS_YAML))
    return built


def _campaign(session: Session) -> Campaign:
    return svc.campaign_named(session, "bd-2023")


# --- import -----------------------------------------------------------------------------------------
def test_import_makes_clusters_per_year_with_rotating_heads(world: World) -> None:
    with Session(world.engine) as session:
        by_year = {(c.code, c.year): c for c in svc.list_clusters(session)}
        assert by_year[("CUM-A", 2023)].head_code == "BDH.D1"
        assert by_year[("CUM-A", 2024)].head_code == "BDH.D2"  # luân phiên
        assert by_year[("KHOI-B", 2023)].kind_label == "Khối thi đua"
        assert [m.code for m in svc.members_of(session, by_year[("CUM-A", 2023)])] == ["BDH.D1", "BDH.D2", "BDH.D3"]
        assert (
            session.execute(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "cluster.import")
            ).scalar_one()
            == 3
        )


def test_broken_membership_file_names_file_row_column_and_changes_nothing(world: World, tmp_path: Path) -> None:
    csv_path = _write(
        tmp_path,
        "Năm;Mã cụm;Tên cụm;Loại;Mã đơn vị;Trưởng cụm\n"
        "2023;CUM-A;Cụm thi đua A;cụm;BDH.D1;x\n"
        "2023;CUM-A;;cụm;BDH.D9;\n"  # unknown unit
        "2023;CUM-C;Cụm C;nhóm;BDH.D2;x\n"  # bad kind
        "2023;CUM-D;Cụm D;cụm;BDH.D1;x\n"  # D1 already in CUM-A this year
        "hai nghìn;CUM-D;Cụm D;cụm;BDH.D3;\n",
        "cum.csv",
    )
    before = _snapshot(world)
    with pytest.raises(SpecError) as caught:
        svc.import_clusters(world.engine, csv_path)
    text = str(caught.value)
    assert f"{csv_path}:3: Mã đơn vị: không có đơn vị mã 'BDH.D9'" in text
    assert f"{csv_path}:4: Loại: loại phải là 'cụm' hoặc 'khối': 'nhóm'" in text
    assert f"{csv_path}:5: Mã đơn vị: đơn vị 'BDH.D1' đã thuộc cụm/khối 'CUM-A' năm 2023 (dòng 2)" in text
    assert f"{csv_path}:6: Năm: năm phải là số" in text
    assert _snapshot(world) == before


def test_xlsx_head_problems_are_located(world: World, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["nam", "ma_cum", "ten_cum", "loai", "ma_don_vi", "truong_cum"])
    sheet.append([2025, "CUM-X", "Cụm X", "cụm", "BDH.D1", "x"])
    sheet.append([2025, "CUM-X", "Cụm X", "cụm", "BDH.D2", "x"])  # a second head
    sheet.append([2025, "CUM-Y", "Cụm Y", "khối", "BDH.D3", ""])  # no head at all
    sheet.append([2025, "CUM-Y", "Cụm Y", "khối", "BDH.D4", "có lẽ"])
    path = tmp_path / "cum.xlsx"
    book.save(path)
    with pytest.raises(SpecError) as caught:
        svc.import_clusters(world.engine, path)
    text = str(caught.value)
    assert f"{path}:3: truong_cum: cụm 'CUM-X' năm 2025 đã có đơn vị trưởng cụm 'BDH.D1'" in text
    assert f"{path}:5: truong_cum: ghi 'x' cho đơn vị trưởng cụm" in text
    assert "cụm 'CUM-Y' năm 2025 chưa có đơn vị trưởng cụm" in text
    with Session(world.engine) as session:
        assert svc.list_clusters(session, year=2025) == []


def test_yaml_head_not_a_member_is_located(world: World, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "clusters:\n  - code: CUM-Z\n    name: Cụm Z\n    year: 2023\n    head: BDH.D4\n    members: [BDH.D1]\n",
        "z.yaml",
    )
    with pytest.raises(
        SpecError, match=r"z.yaml:5: clusters\[0\].head: đơn vị trưởng cụm 'BDH.D4' không phải thành viên"
    ):
        svc.import_clusters(world.engine, path)


def test_reimport_replaces_the_years_in_the_file(world: World, tmp_path: Path) -> None:
    svc.import_clusters(
        world.engine,
        _write(
            tmp_path,
            "clusters:\n  - {code: CUM-A, name: Cụm thi đua A, year: 2023, head: BDH.D2, members: [BDH.D2, BDH.D4]}\n",
            "again.yaml",
        ),
    )
    with Session(world.engine) as session:
        assert [(c.code, c.head_code, c.members) for c in svc.list_clusters(session, year=2023)] == [
            ("CUM-A", "BDH.D2", 2)
        ]
        assert [(c.code, c.head_code) for c in svc.list_clusters(session, year=2024)] == [("CUM-A", "BDH.D2")]


def _snapshot(world: World) -> tuple:
    with Session(world.engine) as session:
        return (
            session.execute(select(Cluster.code, Cluster.year, Cluster.head_unit_id).order_by(Cluster.id)).all(),  # type: ignore[call-overload]
            session.execute(select(ClusterMember.unit_id, ClusterMember.year).order_by(ClusterMember.id)).all(),
        )  # type: ignore[call-overload]


# --- ranking ----------------------------------------------------------------------------------------
def test_rank_members_breaks_ties_by_stated_rule() -> None:
    a = Scored("A", "A", 50, {"xep_loai": 40, "sang_kien": 10})
    b = Scored("B", "B", 50, {"xep_loai": 30, "sang_kien": 20})  # same score, lower rating: second
    c = Scored("C", "C", 40, {"xep_loai": 30, "sang_kien": 10})
    d = Scored("D", "D", 40, {"xep_loai": 30, "sang_kien": 10})  # the same in every criterion as C
    ranked = rank_members([d, c, b, a], ["xep_loai", "sang_kien"])
    assert [(r.unit_code, r.rank, r.tied) for r in ranked] == [
        ("A", 1, False),
        ("B", 2, False),
        ("C", 3, True),
        ("D", 3, True),
    ]
    assert ranked[0].decided_by == "tiêu chí phụ: xep_loai"
    by_meeting = rank_members([d, c, b, a], ["xep_loai", "sang_kien"], meeting_order=["D", "C"])
    assert [(r.unit_code, r.rank, r.decided_by) for r in by_meeting][2:] == [
        ("D", 3, "biên bản họp cụm"),
        ("C", 4, "biên bản họp cụm"),
    ]
    with pytest.raises(ValueError, match="chỉ dùng cho các đơn vị bằng điểm: A"):
        rank_members([a, b, c], ["xep_loai"], meeting_order=["A"])


def test_scores_come_from_reports_appraisal_and_targets(world: World) -> None:
    _year_end(world, "BDH.D1", 100, GOOD)
    _year_end(world, "BDH.D1.1", 50, BEST)  # counted in D1's subtree for initiatives
    _year_end(world, "BDH.D2", 100, BEST)
    with Session(world.engine) as session:
        campaign = _campaign(session)
        cluster = svc.get_cluster(session, "CUM-A", 2023)
        ranked = {r.unit_code: r for r in svc.compute_ranking(session, campaign, cluster)}
    assert ranked["BDH.D1"].parts["sang_kien"] == 15.0 and ranked["BDH.D1"].parts["xep_loai"] == 60
    assert ranked["BDH.D2"].parts["xep_loai"] == 100 and ranked["BDH.D2"].parts["sang_kien"] == 10.0
    assert ranked["BDH.D3"].score == ranked["BDH.D3"].parts.get("chi_tieu", 0.0)
    assert ranked["BDH.D2"].rank == 1 and ranked["BDH.D1"].rank == 2


# --- the head submits; the Cờ thi đua rule -----------------------------------------------------------
def _propose_banner(world: World, district: str) -> list[int]:
    return world.propose(
        district,
        world.proposal("co-thi-dua-ldld-tinh", district, dossier=full_dossier("co-thi-dua-ldld-tinh")),
        now=DEC_02,
    )


def test_only_the_head_of_the_year_submits_and_only_the_top_unit_may_be_proposed(world: World) -> None:
    _year_end(world, "BDH.D1", 100, BEST)
    _year_end(world, "BDH.D2", 10, GOOD)
    _year_end(world, "BDH.D3", 10, GOOD)
    with pytest.raises(NominationError, match="chưa có bảng xếp hạng do đơn vị trưởng cụm gửi"):
        _propose_banner(world, "BDH.D1")
    with pytest.raises(NotPermittedError, match="Chỉ đơn vị trưởng Cụm thi đua A năm 2023"):
        svc.submit_ranking(world.engine, "bd-2023", "CUM-A", world.units["BDH.D2"], actor="d2", minutes="BB 01")
    with pytest.raises(InvalidInputError, match="biên bản họp cụm"):
        svc.submit_ranking(world.engine, "bd-2023", "CUM-A", world.units["BDH.D1"], actor="d1", minutes=" ")
    svc.submit_ranking(
        world.engine,
        "bd-2023",
        "CUM-A",
        world.units["BDH.D1"],
        actor="d1",
        minutes="Biên bản số 02/BB-CTĐ ngày 28/11/2023",
        meeting_order=["BDH.D2", "BDH.D3"],
    )
    with pytest.raises(NominationError) as caught:
        _propose_banner(world, "BDH.D2")
    assert "xếp thứ 2/3 trong Cụm thi đua A năm 2023; chỉ đơn vị xếp thứ nhất của cụm/khối được đề nghị" in str(
        caught.value
    )
    assert _propose_banner(world, "BDH.D1")
    with Session(world.engine) as session:
        audit_row = session.execute(select(AuditLog).where(AuditLog.action == "cluster.ranking_submit")).scalars().one()
        assert audit_row.note == "Biên bản số 02/BB-CTĐ ngày 28/11/2023"


def test_tied_first_places_block_the_flag_until_the_meeting_orders_them(world: World) -> None:
    for unit in ("BDH.D1", "BDH.D2"):
        _year_end(world, unit, 20, BEST)
    svc.submit_ranking(world.engine, "bd-2023", "CUM-A", world.units["BDH.D1"], actor="d1", minutes="BB 01")
    with pytest.raises(NominationError, match="đồng hạng 1 trong Cụm thi đua A năm 2023"):
        _propose_banner(world, "BDH.D2")
    svc.submit_ranking(
        world.engine,
        "bd-2023",
        "CUM-A",
        world.units["BDH.D1"],
        actor="d1",
        minutes="BB 02",
        meeting_order=["BDH.D2", "BDH.D1"],
    )
    assert _propose_banner(world, "BDH.D2")
    with Session(world.engine) as session:
        ranking = svc.submitted_ranking(session, world.campaign_id, svc.get_cluster(session, "CUM-A", 2023).id)
    assert (
        ranking is not None and ranking.version == 2 and [r.unit_code for r in ranking.rows][:2] == ["BDH.D2", "BDH.D1"]
    )


def test_a_unit_outside_every_cluster_is_refused_and_cdcs_are_not_held_to_the_rule(world: World) -> None:
    with Session(world.engine) as session:
        session.execute(ClusterMember.__table__.delete().where(ClusterMember.unit_id == world.units["BDH.D4"]))  # type: ignore[attr-defined]
        session.commit()
    with pytest.raises(NominationError, match="không thuộc cụm/khối thi đua nào năm 2023"):
        _propose_banner(world, "BDH.D4")
    assert world.propose("BDH.D3.1", world.proposal("co-thi-dua-ldld-tinh", "BDH.D3.1"), now=NOV_10)


def test_rotating_the_head_moves_the_right_to_submit(world: World) -> None:
    with pytest.raises(InvalidInputError, match="không phải thành viên"):
        svc.rotate_head(world.engine, "CUM-A", 2023, "BDH.D4")
    assert svc.rotate_head(world.engine, "CUM-A", 2023, "BDH.D3").head_code == "BDH.D3"
    with pytest.raises(NotPermittedError):
        svc.submit_ranking(world.engine, "bd-2023", "CUM-A", world.units["BDH.D1"], actor="d1", minutes="BB 01")
    assert svc.submit_ranking(world.engine, "bd-2023", "CUM-A", world.units["BDH.D3"], actor="d3", minutes="BB 01")
    with Session(world.engine) as session:
        assert svc.get_cluster(session, "CUM-A", 2024).head_code == "BDH.D2"  # another year keeps its own head


# --- selector and breakdown -----------------------------------------------------------------------
def test_clusters_selector_matches_membership_or_the_unit_label(world: World) -> None:
    with Session(world.engine) as session:
        session.execute(Unit.__table__.update().where(Unit.code == "BDH.D4").values(cluster="Khối cũ"))  # type: ignore[attr-defined]
        clause = selector_clause(session, {"clusters": ["CUM-A", "Khối cũ"]}, load_attribute_schema())
        codes = sorted(session.execute(select(Unit.code).where(clause)).scalars())  # type: ignore[call-overload]
    assert codes == ["BDH.D1", "BDH.D2", "BDH.D3", "BDH.D4"]
