"""Campaign files: the Bình Định 2023 plan as written in the seed, the broken-file corpus, and loading."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlmodel import Session

from thidua.models.spec.campaign import CampaignSpec, round_of_day
from thidua.models.spec.problems import SpecError
from thidua.models.tables import Assignment, AuditLog, ObligationDef, Round, Unit
from tests.conftest import BINH_DINH_CAMPAIGN, CONFIG
from tests.factories import add_unit, small_binh_dinh, unit_by_code
from thidua.services.campaigns import load_campaign, read_campaign_file
from thidua.settings import REPO_ROOT

HERE = Path(__file__).parent
BROKEN = sorted((HERE / "broken").glob("*.yaml"))
SEED_003 = REPO_ROOT.parent / "shared" / "seeds" / "003_db011bde34328f55.txt"


@pytest.fixture
def bd_engine(engine):
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    return engine


def _snapshot(engine) -> dict[str, list]:
    """Every row of every table, to prove a failed load changed nothing."""
    from thidua.db import all_metadata

    with engine.connect() as conn:
        return {
            table.name: sorted(map(repr, conn.execute(select(table)).all())) for table in all_metadata().sorted_tables
        }


# --- the Bình Định 2023 campaign as written in the seed ----------------------------------------------
def test_binh_dinh_rounds_and_dates_follow_the_seed():
    spec, _ = read_campaign_file(BINH_DINH_CAMPAIGN)
    assert [(r.number, r.ends) for r in spec.rounds] == [
        (1, date(2023, 5, 31)),
        (2, date(2023, 9, 30)),
        (3, date(2023, 12, 31)),
    ]
    assert spec.rounds[1].starts == date(2023, 5, 31) and spec.rounds[2].starts == date(2023, 9, 30)
    assert spec.ends == date(2023, 12, 31) and spec.timezone == "Asia/Ho_Chi_Minh"
    assert spec.owner.department == "Ban Chính sách pháp luật và Quan hệ lao động"
    kinds = {ob.kind for ob in spec.obligations}
    assert {"registration", "round_report", "final_report", "nomination_window"} <= kinds
    # a round report after every round, to the direct superior
    reports = {ob.round: ob for ob in spec.obligations if ob.kind in ("round_report", "final_report")}
    assert sorted(reports) == [1, 2, 3]
    assert all(ob.reviewer == "parent" and set(ob.levels) == {"cap_tren_truc_tiep", "cdcs"} for ob in reports.values())


def test_binh_dinh_targets_follow_the_seed():
    spec, _ = read_campaign_file(BINH_DINH_CAMPAIGN)
    targets = {t.code: t for t in spec.targets}
    initiatives = targets["sang-kien-8000"]
    assert (initiatives.value, initiatives.deadline, initiatives.rollup) == (8000, date(2023, 8, 31), "sum")
    new_work = targets["cong-trinh-moi"]
    assert new_work.rollup == "share" and new_work.value == 100
    assert set(new_work.source.levels or []) == {"cdcs", "cap_tren_truc_tiep"}
    registration = next(ob for ob in spec.obligations if ob.kind == "registration")
    assert any(f.code == "cong_trinh_moi" and f.required for f in registration.fields)


def test_binh_dinh_sector_specific_content_and_fields():
    spec, _ = read_campaign_file(BINH_DINH_CAMPAIGN)
    assert any("Lao động giỏi" in item for item in spec.content.sxkd)
    assert any("văn hóa công sở" in item for item in spec.content.hcsn)
    report = next(ob for ob in spec.obligations if ob.code == "so-ket-dot-1")
    sectors = {f.code: f.sectors for f in report.fields}
    assert sectors["gia_tri_lam_loi"] == ["sxkd"] and sectors["so_mo_hinh_cai_cach"] == ["hcsn"]


@pytest.mark.skipif(not SEED_003.exists(), reason="shared/seeds not beside the repository")
def test_binh_dinh_theme_is_quoted_exactly_from_the_seed():
    spec, _ = read_campaign_file(BINH_DINH_CAMPAIGN)
    seed = re.sub(r"\s+", " ", SEED_003.read_text(encoding="utf-8"))
    assert f"“{spec.theme}”" in seed
    assert "đến hết ngày 31/8/2023, toàn tỉnh đạt 8.000 sáng kiến" in seed


def test_every_assumed_date_is_marked_in_the_file():
    text_ = BINH_DINH_CAMPAIGN.read_text(encoding="utf-8")
    assumed_lines = [line for line in text_.splitlines() if "GIẢ ĐỊNH" in line]
    assert len(assumed_lines) >= 4  # plan issue date, registration, report days, year-end report
    spec, _ = read_campaign_file(BINH_DINH_CAMPAIGN)
    assert len(spec.assumption_notes) >= 4


@pytest.mark.parametrize(
    ("day", "round_number"),
    [
        (date(2023, 2, 15), 1),
        (date(2023, 5, 31), 1),  # the shared boundary day belongs to the earlier round
        (date(2023, 6, 1), 2),
        (date(2023, 9, 30), 2),
        (date(2023, 10, 1), 3),
        (date(2023, 12, 31), 3),
        (date(2024, 1, 1), None),
    ],
)
def test_round_boundary_rule(day, round_number):
    spec, _ = read_campaign_file(BINH_DINH_CAMPAIGN)
    assert spec.round_boundary == "earlier_round"
    assert round_of_day(day, spec.rounds) == round_number


def test_loaded_due_dates(bd_engine):
    load_campaign(bd_engine, BINH_DINH_CAMPAIGN)
    with Session(bd_engine) as session:
        due = dict(session.exec(select(ObligationDef.code, ObligationDef.due_on)).all())
    assert due["so-ket-dot-1"] == date(2023, 6, 10)
    assert due["so-ket-dot-2"] == date(2023, 10, 10)
    assert due["tong-ket-nam"] == date(2023, 11, 15)


def test_json_schema_file_is_in_sync_with_the_model():
    on_disk = json.loads((CONFIG / "campaign.schema.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(CampaignSpec.model_json_schema()))


# --- the broken-file corpus -------------------------------------------------------------------------
def _expectations(path: Path) -> tuple[str, str, int]:
    header = dict(
        line[2:].split(": ", 1) if ": " in line[2:] else (line[2:].rstrip(":"), "")
        for line in path.read_text(encoding="utf-8").splitlines()[1:4]
    )
    return header["expect-field"], header["expect-message"], int(header["expect-line"])


def test_corpus_is_large_enough():
    assert len(BROKEN) >= 25


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_file_is_rejected_with_location_and_nothing_changes(bd_engine, path):
    load_campaign(bd_engine, HERE / "minimal.yaml")  # a campaign already there must stay as it is
    before = _snapshot(bd_engine)
    field, message, line = _expectations(path)
    with pytest.raises(SpecError) as caught:
        load_campaign(bd_engine, path)
    problems = caught.value.problems
    assert all(p.file == str(path) or p.file.endswith(".yaml") for p in problems)
    matching = [p for p in problems if p.field == field and message in p.message]
    assert matching, f"expected {field!r} ~ {message!r}, got {[str(p) for p in problems]}"
    assert matching[0].line == line
    assert f"{path}:{line}:" in str(matching[0])
    assert _snapshot(bd_engine) == before


def test_all_problems_are_reported_not_just_the_first(bd_engine, tmp_path):
    text_ = (HERE / "minimal.yaml").read_text(encoding="utf-8")
    text_ = text_.replace("year: 2023", "year: nam").replace("levels: [cdcs]", "levels: [khong_co]")
    text_ = text_.replace("kind: registration", "kind: dang_ky") + "thua: 1\n"
    path = tmp_path / "nhieu_loi.yaml"
    path.write_text(text_, encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_campaign(bd_engine, path)
    fields = {p.field for p in caught.value.problems}
    assert {"year", "obligations[0].kind", "thua"} <= fields


# --- loading: idempotence, edits, dry run ---------------------------------------------------------
def _count(session: Session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()[0]


def test_loading_twice_changes_nothing(bd_engine):
    first = load_campaign(bd_engine, BINH_DINH_CAMPAIGN)
    # 8 owing units × 6 obligations, and the báo cáo nhanh of the 2 districts directly under the province
    assert first.created and first.assignments_created == 8 * 6 + 2
    with Session(bd_engine) as session:
        audit_rows = _count(session, AuditLog)
    snapshot = _snapshot(bd_engine)
    second = load_campaign(bd_engine, BINH_DINH_CAMPAIGN)
    assert not second.created and second.changes == []
    after = _snapshot(bd_engine)
    assert after == snapshot
    with Session(bd_engine) as session:
        assert _count(session, AuditLog) == audit_rows


def _edited_campaign(tmp_path: Path, *replacements: tuple[str, str]) -> Path:
    campaigns = tmp_path / "config" / "campaigns"
    campaigns.mkdir(parents=True)
    text_ = BINH_DINH_CAMPAIGN.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text_
        text_ = text_.replace(old, new)
    for folder in ("calendars", "awards"):
        (tmp_path / "config" / folder).symlink_to(CONFIG / folder)
    path = campaigns / "binh_dinh_2023.yaml"
    path.write_text(text_, encoding="utf-8")
    return path


NEW_OBLIGATION = """
  - code: bao-cao-sang-kien
    kind: custom
    title: Báo cáo nhanh số sáng kiến đến 31/8/2023
    levels: [cap_tren_truc_tiep]
    due: 05/09/2023
    fields:
      - {code: so_sang_kien, label: Số sáng kiến, type: integer, min: 0}

targets:"""


def test_edited_file_updates_the_plan_in_place_and_keeps_submissions(bd_engine, tmp_path):
    load_campaign(bd_engine, BINH_DINH_CAMPAIGN)
    with Session(bd_engine) as session:
        unit = unit_by_code(session, "BDH.D1.1")
        ob = session.exec(select(ObligationDef).where(ObligationDef.code == "so-ket-dot-2")).scalars().one()
        # the unit submitted on 12/10/2023 — late against 10/10, on time against 20/10
        session.execute(
            update(Assignment)
            .where(Assignment.obligation_id == ob.id, Assignment.unit_id == unit.id)
            .values(status="da_gui", submitted_at=ob_due(session, ob) + timedelta(days=2), late=True)
        )
        add_unit(session, "BDH.D2.9", "CĐCS Đơn vị Mới (giả lập)", "cdcs", unit_by_code(session, "BDH.D2"), "sxkd")
        session.commit()

    edited = _edited_campaign(
        tmp_path,
        ("due: {round: 2, days_after_end: 10}       # 10/10/2023", "due: {round: 2, days_after_end: 20}"),
        ("\ntargets:", NEW_OBLIGATION),
    )
    preview = load_campaign(bd_engine, edited, dry_run=True)
    assert preview.dry_run and preview.changes
    result = load_campaign(bd_engine, edited)
    assert result.changes == preview.changes
    joined = "\n".join(result.changes)
    assert "so-ket-dot-2" in joined and "20/10/2023" in joined
    assert "bao-cao-sang-kien" in joined
    assert result.assignments_created == 6 + 2  # the new unit owes 6 obligations; 2 districts owe the new one
    with Session(bd_engine) as session:
        unit = unit_by_code(session, "BDH.D1.1")
        ob = session.exec(select(ObligationDef).where(ObligationDef.code == "so-ket-dot-2")).scalars().one()
        kept = (
            session.exec(select(Assignment).where(Assignment.obligation_id == ob.id, Assignment.unit_id == unit.id))
            .scalars()
            .one()
        )
        assert ob.due_on == date(2023, 10, 20)
        assert kept.status == "da_gui" and kept.due_on == date(2023, 10, 20)
        assert kept.late is False  # on time against the moved deadline
        others = session.exec(select(Assignment.due_on).where(Assignment.obligation_id == ob.id)).scalars().all()
        assert set(others) == {date(2023, 10, 20)}
    assert load_campaign(bd_engine, edited).changes == []


def ob_due(session: Session, ob: ObligationDef):
    return session.exec(select(Assignment.due_at).where(Assignment.obligation_id == ob.id)).scalars().first()


def test_dry_run_writes_nothing(bd_engine):
    before = _snapshot(bd_engine)
    result = load_campaign(bd_engine, BINH_DINH_CAMPAIGN, dry_run=True)
    assert result.created and result.assignments_created == 8 * 6 + 2  # with the 2 districts' báo cáo nhanh
    assert _snapshot(bd_engine) == before


def test_removed_obligation_and_inactive_unit_are_deactivated_not_deleted(bd_engine, tmp_path):
    load_campaign(bd_engine, BINH_DINH_CAMPAIGN)
    with Session(bd_engine) as session:
        session.execute(update(Unit).where(Unit.code == "BDH.D1.2").values(active=False))
        session.commit()
        total = _count(session, Assignment)
    spec_text = BINH_DINH_CAMPAIGN.read_text(encoding="utf-8")
    start = spec_text.index("  - code: de-xuat-khen-thuong-dot-2")
    end = spec_text.index("  - code: de-xuat-khen-thuong-nam")
    edited = _edited_campaign(tmp_path, (spec_text[start:end], ""))
    result = load_campaign(bd_engine, edited)
    assert any("Ngừng nghĩa vụ 'de-xuat-khen-thuong-dot-2'" in line for line in result.changes)
    with Session(bd_engine) as session:
        assert _count(session, Assignment) == total  # nothing deleted
        inactive_unit = unit_by_code(session, "BDH.D1.2")
        owed_by_inactive = session.exec(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.unit_id == inactive_unit.id, Assignment.active.is_(True))
        ).one()[0]
        assert owed_by_inactive == 0
        ob = (
            session.exec(select(ObligationDef).where(ObligationDef.code == "de-xuat-khen-thuong-dot-2")).scalars().one()
        )
        assert ob.active is False


def test_round_moved_in_file_shows_as_a_change(bd_engine, tmp_path):
    load_campaign(bd_engine, BINH_DINH_CAMPAIGN)
    edited = _edited_campaign(
        tmp_path,
        ("    ends: 31/05/2023\n", "    ends: 30/05/2023\n"),
        ("    starts: 31/05/2023\n", "    starts: 30/05/2023\n"),
    )
    result = load_campaign(bd_engine, edited)
    assert any(line.startswith("Đợt 1:") and "30/05/2023" in line for line in result.changes)
    with Session(bd_engine) as session:
        round_1 = session.exec(select(Round).where(Round.number == 1)).scalars().one()
        assert round_1.ends_on == date(2023, 5, 30)
        assert session.exec(select(ObligationDef.due_on).where(ObligationDef.code == "so-ket-dot-1")).one()[0] == date(
            2023, 6, 9
        )
