"""Replay of the 2023 campaign: registration, the two round reports and the year-end report, with
simulated units that report on time, late, get returned and resubmit, leave a report waiting, or never
report. Consolidated figures, late lists and target progress on 31/08/2023 are checked against brute force
computed here from the simulation's own ledger and the unit tree (parent links, not paths)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any


import pytest
from sqlalchemy import select

from thidua.models.clock import end_of_day_utc
from thidua.models.submissions import ConsolidationSnapshot
from thidua.models.tables import Campaign, ObligationDef, Unit
from tests.submissions.conftest import CODE, load_binh_dinh, vn
from tests.conftest import fresh_postgres_schema
from thidua.db import create_schema, make_engine, session_scope
from thidua.services.consolidation import consolidate, consolidate_due, latest_snapshots
from thidua.services.submissions import review_report, submit_report, year_end_rating
from thidua.services.targets import target_progress

RATINGS = [
    "Hoàn thành xuất sắc nhiệm vụ",
    "Hoàn thành tốt nhiệm vụ",
    "Hoàn thành nhiệm vụ",
    "Không hoàn thành nhiệm vụ",
]
# (obligation, due date, 0-based round index used to vary the figures)
OBLIGATIONS = [
    ("dang-ky-thi-dua", date(2023, 3, 15), 0),
    ("so-ket-dot-1", date(2023, 6, 10), 1),
    ("so-ket-dot-2", date(2023, 10, 10), 2),
    ("tong-ket-nam", date(2023, 11, 15), 3),
]
BEHAVIOURS = ["on_time", "late", "returned", "never", "pending", "early", "slow_review", "returned_open"]
# The báo cáo nhanh of the 31/8 target (opens 31/08, due 08/09), owed by the districts directly under the province,
# each for its subtree: district -> (behaviour, running figure to 31/8)
QUICK = "bao-cao-nhanh-sang-kien"
QUICK_PLAY = {"BDH.D1": ("on_time", 2900), "BDH.D2": ("late", 2650), "BDH.D3": ("returned", 2700)}


@dataclass
class Version:
    values: dict[str, Any]  # what the figures mean (numbers as numbers)
    submitted_at: datetime
    reviewed_at: datetime | None = None
    accepted: bool = False
    appraised: str | None = None


@dataclass
class Ledger:
    versions: dict[tuple[str, str], list[Version]] = field(default_factory=dict)

    def history(self, obligation: str, unit: str) -> list[Version]:
        return self.versions.setdefault((obligation, unit), [])

    def counted(self, obligation: str, unit: str, at: datetime | None = None) -> Version | None:
        """Brute force of 'the latest accepted version' (as of `at`)."""
        found = None
        for v in self.history(obligation, unit):
            if v.accepted and (at is None or (v.submitted_at <= at and v.reviewed_at <= at)):  # type: ignore[operator]
                found = v
        return found


def form_for(obligation: str, i: int, r: int, unit: Unit) -> tuple[dict[str, Any], dict[str, Any]]:
    """(raw form as a unit would type it, the values it means)."""
    if obligation == "dang-ky-thi-dua":
        values = {
            "danh_hieu_dang_ky": "CĐCS vững mạnh",
            "cong_trinh_moi": f"Công trình số {i}",
            "so_sang_kien_dang_ky": 5 + i,
        }
        return {**values, "so_sang_kien_dang_ky": str(5 + i)}, values
    values: dict[str, Any] = {"so_sang_kien": 10 + 7 * i + r, "so_doan_vien_moi": 3 * i + r}
    raw: dict[str, Any] = {"so_sang_kien": str(values["so_sang_kien"]), "so_doan_vien_moi": values["so_doan_vien_moi"]}
    if i % 3 == 0:
        values["so_cdcs_thanh_lap"] = raw["so_cdcs_thanh_lap"] = 1
    if unit.sector in ("sxkd", None):
        values["gia_tri_lam_loi"] = i + 0.5
        raw["gia_tri_lam_loi"] = f"{i},5"
    if unit.sector in ("hcsn", None) and obligation != "dang-ky-thi-dua":
        values["so_mo_hinh_cai_cach"] = raw["so_mo_hinh_cai_cach"] = i % 4
    if obligation == "tong-ket-nam":
        values["cong_trinh_hoan_thanh"] = i % 2 == 0
        raw["cong_trinh_hoan_thanh"] = "có" if i % 2 == 0 else "không"
        values["xep_loai_de_nghi"] = raw["xep_loai_de_nghi"] = RATINGS[i % 4]
    return raw, values


@dataclass
class Replay:
    engine: Any
    units: dict[str, Unit]
    ledger: Ledger
    behaviour: dict[tuple[str, str], str]

    def submit(self, obligation: str, unit: str, raw: dict[str, Any], values: dict[str, Any], when: datetime) -> None:
        with session_scope(self.engine) as session:
            submit_report(
                session,
                campaign_code=CODE,
                obligation_code=obligation,
                unit_code=unit,
                raw=raw,
                actor=f"{unit}@example.vn",
                now=when,
            )
        self.ledger.history(obligation, unit).append(Version(values, when))

    def review(self, obligation: str, unit: str, accept: bool, when: datetime, rating: str | None = None) -> None:
        reviewer = next(u for u in self.units.values() if u.id == self.units[unit].parent_id)
        with session_scope(self.engine) as session:
            review_report(
                session,
                campaign_code=CODE,
                obligation_code=obligation,
                unit_code=unit,
                reviewer_code=reviewer.code,
                accept=accept,
                actor=reviewer.code,
                now=when,
                comment=None if accept else "Số liệu chưa khớp, đề nghị kiểm tra lại",
                appraised_rating=rating,
            )
        version = self.ledger.history(obligation, unit)[-1]
        version.reviewed_at, version.accepted, version.appraised = when, accept, rating


def at(due: date, days: int) -> datetime:
    if due == date(2023, 3, 15):  # registration opens on 15/02: its early birds come no earlier
        days = max(days, -20 + (days + 46) // 2)
    day = due + timedelta(days=days)
    return vn(day.day, day.month, day.year)


def play(engine) -> Replay:
    loaded = load_binh_dinh(engine, districts=3, cdcs_per_district=4)
    owing = [u for u in loaded.units.values() if u.level_code in ("cap_tren_truc_tiep", "cdcs")]
    replay = Replay(engine, loaded.units, Ledger(), {})
    for obligation, due, r in OBLIGATIONS:
        for i, unit in enumerate(owing):
            behaviour = BEHAVIOURS[(i + 3 * r) % len(BEHAVIOURS)]
            replay.behaviour[(obligation, unit.code)] = behaviour
            raw, values = form_for(obligation, i, r, unit)
            rating = RATINGS[(i + 1) % 4] if obligation == "tong-ket-nam" and i % 3 == 0 else None
            code = unit.code
            if behaviour == "on_time":
                replay.submit(obligation, code, raw, values, at(due, -5))
                replay.review(obligation, code, True, at(due, -3), rating)
            elif behaviour == "late":
                replay.submit(obligation, code, raw, values, at(due, 5))
                replay.review(obligation, code, True, at(due, 6), rating)
            elif behaviour in ("returned", "returned_open"):
                wrong = dict(
                    values, **({"so_sang_kien": values["so_sang_kien"] * 10} if "so_sang_kien" in values else {})
                )
                replay.submit(
                    obligation,
                    code,
                    dict(raw, **{k: wrong[k] for k in ("so_sang_kien",) if k in raw}),
                    wrong,
                    at(due, -6),
                )
                replay.review(obligation, code, False, at(due, -5))
                if behaviour == "returned":  # corrected after the deadline: the unit was on time, the fix is not
                    replay.submit(obligation, code, raw, values, at(due, 2))
                    replay.review(obligation, code, True, at(due, 3), rating)
            elif behaviour == "pending":
                replay.submit(obligation, code, raw, values, at(due, -2))
            elif behaviour == "early":
                replay.submit(obligation, code, raw, values, at(due, -46))
                replay.review(obligation, code, True, at(due, -45), rating)
            elif behaviour == "slow_review":
                replay.submit(obligation, code, raw, values, at(due, -43))
                replay.review(obligation, code, True, at(due, -38), rating)
    for code, (behaviour, count) in QUICK_PLAY.items():
        values = {"so_sang_kien_luy_ke": count}
        if behaviour == "on_time":
            replay.submit(QUICK, code, {"so_sang_kien_luy_ke": str(count)}, values, vn(4, 9))
            replay.review(QUICK, code, True, vn(6, 9))
        elif behaviour == "late":
            replay.submit(QUICK, code, {"so_sang_kien_luy_ke": str(count)}, values, vn(13, 9))
            replay.review(QUICK, code, True, vn(14, 9))
        else:  # sent on 31/08 with a wrong figure, returned, corrected, accepted after the due date
            replay.submit(
                QUICK,
                code,
                {"so_sang_kien_luy_ke": str(count * 10)},
                {"so_sang_kien_luy_ke": count * 10},
                vn(31, 8, hour=16),
            )
            replay.review(QUICK, code, False, vn(5, 9))
            replay.submit(QUICK, code, {"so_sang_kien_luy_ke": str(count)}, values, vn(7, 9))
            replay.review(QUICK, code, True, vn(11, 9))
    return replay


def in_subtree(units: dict[str, Unit], unit: Unit, root: Unit) -> bool:
    by_id = {u.id: u for u in units.values()}
    current: Unit | None = unit
    while current is not None:
        if current.id == root.id:
            return True
        current = by_id.get(current.parent_id) if current.parent_id else None
    return False


def expected_snapshot(replay: Replay, obligation: str, due: date, root: Unit) -> dict[str, Any]:
    due_at = end_of_day_utc(due)
    members = [
        u
        for u in replay.units.values()
        if u.level_code in ("cap_tren_truc_tiep", "cdcs") and in_subtree(replay.units, u, root)
    ]
    sums: dict[str, float] = {}
    counted, not_submitted, late, pending, returned = 0, [], [], 0, 0
    choices: dict[str, int] = {r: 0 for r in RATINGS}
    yes = 0
    for unit in members:
        history = replay.ledger.history(obligation, unit.code)
        if not history:
            not_submitted.append(unit.code)
            continue
        if history[0].submitted_at > due_at:
            late.append(unit.code)
        last = history[-1]
        pending += last.reviewed_at is None
        returned += last.reviewed_at is not None and not last.accepted
        version = replay.ledger.counted(obligation, unit.code)
        if version is None:
            continue
        counted += 1
        for key, value in version.values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                sums[key] = sums.get(key, 0) + value
        if "xep_loai_de_nghi" in version.values:
            choices[version.values["xep_loai_de_nghi"]] += 1
            yes += version.values["cong_trinh_hoan_thanh"]
    return {
        "owed": len(members),
        "counted": counted,
        "not_submitted": sorted(not_submitted),
        "late_units": sorted(late),
        "pending": pending,
        "returned": returned,
        "sums": sums,
        "choices": choices,
        "yes": yes,
    }


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def replay(request, tmp_path_factory):
    """Played once per database; tests that add versions record them in the ledger too."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('replay') / 'replay.db'}")
        create_schema(engine)
        yield play(engine)
        engine.dispose()
        return
    with fresh_postgres_schema() as engine:
        yield play(engine)


def test_consolidated_figures_match_brute_force(replay):
    aggregators = [replay.units[c] for c in ("BDH", "BDH.D1", "BDH.D2", "BDH.D3")]
    for obligation, due, _ in OBLIGATIONS:
        with session_scope(replay.engine) as session:
            result = consolidate(session, campaign_code=CODE, obligation_code=obligation, now=vn(20, 12))
            ob_id = session.execute(select(ObligationDef.id).where(ObligationDef.code == obligation)).scalar_one()
            snapshots = {s.data["unit"]: s.data for s in latest_snapshots(session, ob_id).values()}
        assert result.aggregating_units == 4 and set(snapshots) == {u.code for u in aggregators}
        for root in aggregators:
            got, want = snapshots[root.code], expected_snapshot(replay, obligation, due, root)
            label = f"{obligation} @ {root.code}"
            assert (got["owed"], got["counted"], got["pending"], got["returned"]) == (
                want["owed"],
                want["counted"],
                want["pending"],
                want["returned"],
            ), label
            assert got["not_submitted"] == want["not_submitted"], label
            assert got["late_units"] == want["late_units"], label
            assert got["late"] == len(want["late_units"]), label
            numbers = {k: v["sum"] for k, v in got["numbers"].items() if v["reports"]}
            assert numbers == pytest.approx(want["sums"]), label
            if obligation == "tong-ket-nam":
                assert got["choices"]["xep_loai_de_nghi"] == want["choices"], label
                assert got["bools"]["cong_trinh_hoan_thanh"]["true"] == want["yes"], label
    # The simulation exercised every behaviour, including late and never.
    assert set(replay.behaviour.values()) == set(BEHAVIOURS)


def test_a_returned_then_resubmitted_report_counts_once(replay):
    obligation = "so-ket-dot-1"
    unit = next(u for (o, u), b in replay.behaviour.items() if o == obligation and b == "returned")
    first, second = replay.ledger.history(obligation, unit)
    assert first.values["so_sang_kien"] == 10 * second.values["so_sang_kien"]
    district = next(u for u in replay.units.values() if u.id == replay.units[unit].parent_id)
    with session_scope(replay.engine) as session:
        consolidate(session, campaign_code=CODE, obligation_code=obligation, now=vn(20, 12))
        ob_id = session.execute(select(ObligationDef.id).where(ObligationDef.code == obligation)).scalar_one()
        data = next(s.data for s in latest_snapshots(session, ob_id).values() if s.data["unit"] == district.code)
    others = sum(
        replay.ledger.counted(obligation, u.code).values["so_sang_kien"]  # type: ignore[union-attr]
        for u in replay.units.values()
        if u.code != unit and in_subtree(replay.units, u, district) and replay.ledger.counted(obligation, u.code)
    )
    assert data["numbers"]["so_sang_kien"]["sum"] == others + second.values["so_sang_kien"]
    assert unit not in data["late_units"]  # first sent on time; only the correction came after the deadline


def test_target_progress_on_31_august(replay):
    """8,000 initiatives by 31/8 reads the báo cáo nhanh (figures to 31/08, due 08/09), not the round reports: on
    31/08 there is no verdict yet, whatever the round reports hold (Đợt 2's cover 31/05–30/09)."""
    day = date(2023, 8, 31)
    moment = end_of_day_utc(day)
    with session_scope(replay.engine) as session:
        reports = {t.code: t for t in target_progress(session, campaign_code=CODE, at=day)}
        start = session.execute(select(Campaign.starts_on)).scalar_one()
    owing = [u for u in replay.units.values() if u.level_code in ("cap_tren_truc_tiep", "cdcs")]

    sang_kien = reports["sang-kien-8000"]
    province = sang_kien.scope[0].progress
    # Round 2's 'early' report (accepted 26/08) was in by 31/08 and its 'slow_review' one (02/09) not: neither counts.
    early = [u for (o, u), b in replay.behaviour.items() if o == "so-ket-dot-2" and b == "early"]
    slow = [u for (o, u), b in replay.behaviour.items() if o == "so-ket-dot-2" and b == "slow_review"]
    assert early and slow
    assert replay.ledger.counted("so-ket-dot-2", early[0], moment) is not None
    assert replay.ledger.counted("so-ket-dot-2", slow[0], moment) is None
    assert province.figure.value == 0  # BDH.D3's quick report sent 31/08 16:00 is not accepted yet
    assert province.verdict == "Chưa đến hạn báo cáo" and "08/09/2023" in province.note
    assert province.forecast is None and province.figure.units_owing == len(QUICK_PLAY)

    registered = [u for u in owing if replay.ledger.counted("dang-ky-thi-dua", u.code, moment)]
    share = reports["cong-trinh-moi"].scope[0].progress
    assert share.figure.units_meeting == len(registered) and share.figure.units_owing == len(owing)
    assert share.figure.value == pytest.approx(100 * len(registered) / len(owing))
    # Forecast from the reported periods (issue 11.9): the registration (due 15/03) is the only source and it
    # is in, so no later data will come: the forecast is the figure itself, not a line through 31/08.
    assert share.forecast == pytest.approx(share.figure.value)
    assert "các kỳ đã báo cáo" in share.note and "15/02/2023 đến 15/03/2023" in share.note
    assert start == date(2023, 2, 15)

    rating = reports["xep-loai-tot"].scope[0].progress
    assert rating.figure.value == 0 and rating.figure.units_owing == 12  # only CĐCS, nothing reported yet


@pytest.mark.parametrize(
    ("day", "verdict"),
    [(date(2023, 9, 8), "Chưa đạt"), (date(2023, 9, 11), "Chưa đạt"), (date(2023, 9, 14), "Đã đạt")],
)
def test_the_31_august_target_is_judged_on_the_quick_reports_in_hand(replay, day: date, verdict: str):
    """From 08/09 (due) the running figures to 31/8 accepted by the day make the figure, per district its own:
    2,900 (on time) → +2,700 (BDH.D3's correction accepted 11/09; its returned 27,000 never) → +2,650 (late, 14/09)."""
    moment = end_of_day_utc(day)
    with session_scope(replay.engine) as session:
        sang_kien = target_progress(session, campaign_code=CODE, at=day, target_code="sang-kien-8000")[0]
    counted = {
        code: version.values["so_sang_kien_luy_ke"]
        for code in QUICK_PLAY
        for version in [replay.ledger.counted(QUICK, code, moment)]
        if version is not None
    }
    province = sang_kien.scope[0].progress
    assert province.figure.value == sum(counted.values())
    assert province.figure.value == {8: 2900, 11: 2900 + 2700, 14: 2900 + 2700 + 2650}[day.day]
    assert province.verdict == verdict and province.forecast is None  # past 31/08: the figure is the result
    assert [(r.unit_code, r.progress.figure.value) for r in sang_kien.breakdown] == [
        (code, counted.get(code, 0)) for code in ("BDH.D1", "BDH.D2", "BDH.D3")
    ]


def test_year_end_rating_and_final_share(replay):
    with session_scope(replay.engine) as session:
        campaign_id = session.execute(select(Campaign.id)).scalar_one()
        for unit in replay.units.values():
            if unit.level_code not in ("cap_tren_truc_tiep", "cdcs"):
                continue
            version = replay.ledger.counted("tong-ket-nam", unit.code)
            expected = None if version is None else (version.appraised or version.values["xep_loai_de_nghi"])
            assert year_end_rating(session, campaign_id, unit.id) == expected, unit.code
        good = [
            u
            for u in replay.units.values()
            if u.level_code == "cdcs"
            and (v := replay.ledger.counted("tong-ket-nam", u.code)) is not None
            and v.values["xep_loai_de_nghi"] in RATINGS[:2]
        ]
        share = target_progress(session, campaign_code=CODE, at=date(2023, 12, 31), target_code="xep-loai-tot")[0]
    # The target reads the proposed rating (the field the campaign file names), over all CĐCS.
    assert share.scope[0].progress.figure.value == pytest.approx(100 * len(good) / 12)


def test_a_correction_is_a_new_snapshot_version_not_a_silent_change(replay):
    obligation = "so-ket-dot-1"
    with session_scope(replay.engine) as session:
        consolidate(session, campaign_code=CODE, obligation_code=obligation, now=vn(20, 6))
        again = consolidate(session, campaign_code=CODE, obligation_code=obligation, now=vn(21, 6))
    assert again.new_versions == 0
    unit = next(
        u
        for (o, u), b in replay.behaviour.items()
        if o == obligation and b == "on_time" and replay.units[u].level_code == "cdcs"
    )
    district = next(u for u in replay.units.values() if u.id == replay.units[unit].parent_id)
    raw = {"so_sang_kien": 999, "so_doan_vien_moi": 1}
    replay.submit(obligation, unit, raw, raw, vn(22, 6))
    replay.review(obligation, unit, True, vn(23, 6))
    with session_scope(replay.engine) as session:
        result = consolidate(session, campaign_code=CODE, obligation_code=obligation, now=vn(24, 6))
        ob_id = session.execute(select(ObligationDef.id).where(ObligationDef.code == obligation)).scalar_one()
        rows = (
            session.execute(
                select(ConsolidationSnapshot)
                .where(ConsolidationSnapshot.obligation_id == ob_id)
                .order_by(ConsolidationSnapshot.unit_id, ConsolidationSnapshot.version)
            )
            .scalars()
            .all()
        )
    changed = {r.data["unit"]: r for r in rows if r.version == 2}
    assert result.new_versions == 2 and set(changed) == {"BDH", district.code}
    old = next(r for r in rows if r.data["unit"] == district.code and r.version == 1)
    assert changed[district.code].data["numbers"]["so_sang_kien"]["sum"] > old.data["numbers"]["so_sang_kien"]["sum"]


def test_consolidation_runs_once_after_each_deadline(loaded):
    with session_scope(loaded.engine) as session:
        first = consolidate_due(session, now=vn(11, 6, hour=0, minute=30))
        second = consolidate_due(session, now=vn(11, 6, hour=1))
        later = consolidate_due(session, now=vn(16, 12))
    assert sorted(r.obligation_code for r in first) == ["dang-ky-thi-dua", "so-ket-dot-1"]
    assert second == []
    assert sorted(r.obligation_code for r in later) == ["so-ket-dot-2", "tong-ket-nam"]
