"""Issue 12: v1 campaign files keep loading unchanged. tests/campaigns/v1/binh_dinh_2023_v1.yaml is the shipped
Bình Định 2023 file as it was before the báo cáo nhanh was added (frozen copy): it still validates, and it loads over
the small tree to the plan recorded from it before that change (v1/binh_dinh_2023_v1.plan.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.conftest import BINH_DINH_CAMPAIGN
from tests.factories import small_binh_dinh
from thidua.models.tables import Assignment, Campaign, ObligationDef, Round, Target, Unit
from thidua.services.campaign_file import check_campaign_file
from thidua.services.campaigns import load_campaign

V1 = Path(__file__).parent / "v1" / "binh_dinh_2023_v1.yaml"
PLAN = Path(__file__).parent / "v1" / "binh_dinh_2023_v1.plan.json"


def plan_of(engine: Engine) -> dict[str, Any]:
    """What a loaded campaign plans, in plain values: rounds, obligations (their dates, levels, forms), each
    unit's assignments (due date, reviewer) and the targets (rollup, value, deadline, source)."""
    with Session(engine) as session:
        campaign = session.execute(select(Campaign)).scalars().one()
        codes = dict(session.execute(select(Unit.id, Unit.code)).all())
        rounds = [
            [r.number, r.name, r.starts_on.isoformat(), r.ends_on.isoformat()]
            for r in session.execute(
                select(Round).where(Round.campaign_id == campaign.id).order_by(Round.number)
            ).scalars()
        ]
        obligations = {}
        for ob in session.execute(
            select(ObligationDef).where(ObligationDef.campaign_id == campaign.id).order_by(ObligationDef.code)
        ).scalars():
            assignments = session.execute(
                select(Assignment.unit_id, Assignment.due_on, Assignment.reviewer_unit_id, Assignment.active).where(
                    Assignment.obligation_id == ob.id
                )
            ).all()
            obligations[ob.code] = {
                "kind": ob.kind,
                "title": ob.title,
                "round": ob.round_number,
                "opens": ob.opens_on and ob.opens_on.isoformat(),
                "due": ob.due_on.isoformat(),
                "levels": ob.levels,
                "sectors": ob.sectors,
                "reviewer": ob.reviewer,
                "ladder": ob.ladder,
                "series": ob.series,
                "active": ob.active,
                "review_required": ob.definition.get("review_required"),
                "fields": [
                    [f["code"], f["type"], bool(f.get("required")), f.get("sectors")]
                    for f in ob.definition.get("fields") or []
                ],
                "assignments": sorted(
                    [codes[unit], due.isoformat(), codes.get(reviewer), active]
                    for unit, due, reviewer, active in assignments
                ),
            }
        targets = {}
        for t in session.execute(
            select(Target).where(Target.campaign_id == campaign.id).order_by(Target.code)
        ).scalars():
            source = t.definition["source"]
            targets[t.code] = {
                "title": t.title,
                "rollup": t.rollup,
                "value": t.value,
                "unit": t.unit_of_measure,
                "deadline": t.deadline.isoformat(),
                "source": {key: source.get(key) for key in ("obligations", "field", "levels", "condition")},
                "breakdown_level": t.definition.get("breakdown_level"),
                "quotas": t.quotas,
            }
    return {
        "campaign": [campaign.code, campaign.starts_on.isoformat(), campaign.ends_on.isoformat()],
        "rounds": rounds,
        "obligations": obligations,
        "targets": targets,
    }


def test_the_v1_file_still_validates() -> None:
    spec, _, _ = check_campaign_file(V1)
    assert spec.code == "bd-2023" and not any(ob.kind == "interim_report" for ob in spec.obligations)


def test_the_v1_file_loads_to_the_same_plan_as_before(engine: Engine) -> None:
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(engine, V1)
    assert plan_of(engine) == json.loads(PLAN.read_text(encoding="utf-8"))


def test_the_shipped_file_keeps_the_v1_plan_and_adds_the_quick_report(engine: Engine) -> None:
    """The shipped file is the v1 plan plus one báo cáo nhanh: every v1 obligation unchanged (dates, forms, each
    unit's assignments), every target unchanged but the 31/8 one, which now reads the quick report."""
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    load_campaign(engine, BINH_DINH_CAMPAIGN)
    now, before = plan_of(engine), json.loads(PLAN.read_text(encoding="utf-8"))
    assert now["campaign"] == before["campaign"] and now["rounds"] == before["rounds"]
    assert set(now["obligations"]) - set(before["obligations"]) == {"bao-cao-nhanh-sang-kien"}
    assert {code: now["obligations"][code] for code in before["obligations"]} == before["obligations"]
    assert set(now["targets"]) == set(before["targets"])
    for code, target in before["targets"].items():
        if code != "sang-kien-8000":
            assert now["targets"][code] == target
    changed = now["targets"]["sang-kien-8000"]
    assert {**changed, "source": None} == {**before["targets"]["sang-kien-8000"], "source": None}
    assert changed["source"]["obligations"] == ["bao-cao-nhanh-sang-kien"]
