"""Consolidation rules not covered by the 2023 replay: what counts when review is not awaited."""

from __future__ import annotations

from sqlalchemy import select, update

from thidua.models.tables import ObligationDef
from tests.submissions.conftest import CODE, vn
from thidua.db import session_scope
from thidua.services.consolidation import consolidate, latest_snapshots
from thidua.services.submissions import review_report, submit_report

ROUND1 = "so-ket-dot-1"


def figures(engine) -> dict[str, dict]:
    with session_scope(engine) as session:
        result = consolidate(session, campaign_code=CODE, obligation_code=ROUND1, now=vn(20, 6))
        ob_id = session.execute(select(ObligationDef.id).where(ObligationDef.code == ROUND1)).scalar_one()
        data = {s.data["unit"]: s.data for s in latest_snapshots(session, ob_id).values()}
    return {"new": result.new_versions, **data}


def test_waiting_reports_count_only_when_the_obligation_says_so(loaded):
    with session_scope(loaded.engine) as session:
        for unit, initiatives in (("BDH.D1.1", 4), ("BDH.D1.2", 6), ("BDH.D1.3", 100)):
            submit_report(
                session,
                campaign_code=CODE,
                obligation_code=ROUND1,
                unit_code=unit,
                actor=unit,
                raw={"so_sang_kien": initiatives, "so_doan_vien_moi": 1},
                now=vn(5, 6),
            )
        review_report(
            session,
            campaign_code=CODE,
            obligation_code=ROUND1,
            unit_code="BDH.D1.1",
            reviewer_code="BDH.D1",
            accept=True,
            actor="BDH.D1",
            now=vn(6, 6),
        )
        review_report(
            session,
            campaign_code=CODE,
            obligation_code=ROUND1,
            unit_code="BDH.D1.3",
            reviewer_code="BDH.D1",
            accept=False,
            comment="Quá cao",
            actor="BDH.D1",
            now=vn(6, 6),
        )
    accepted_only = figures(loaded.engine)["BDH.D1"]
    assert (accepted_only["counted"], accepted_only["numbers"]["so_sang_kien"]["sum"]) == (1, 4)
    assert accepted_only["awaiting"] == ["BDH.D1.2", "BDH.D1.3"]

    with session_scope(loaded.engine) as session:
        ob = session.execute(select(ObligationDef).where(ObligationDef.code == ROUND1)).scalars().one()
        session.execute(
            update(ObligationDef)
            .where(ObligationDef.id == ob.id)
            .values(definition=dict(ob.definition, consolidate_accepted_only=False))
        )
    counting_sent = figures(loaded.engine)
    district = counting_sent["BDH.D1"]
    # The waiting report counts now; the returned one still does not.
    assert (district["counted"], district["numbers"]["so_sang_kien"]["sum"]) == (2, 10)
    assert district["awaiting"] == ["BDH.D1.3"] and district["accepted_only"] is False
    assert counting_sent["new"] == 3  # every snapshot records the counting rule, so each gets a new version


def test_counted_reports_are_found_by_assignment_not_by_scanning_the_obligation(loaded):
    """Issue 17: joined to the assignments, the counted reports are looked up through (assignment_id, version);
    SQLite without statistics chose the (obligation, status) index instead and read every counted report of the
    obligation for each assignment (0.2–0.5 s a consolidation of 1,200 units, and in the reports)."""
    from sqlalchemy import func

    from thidua.models.tables import Assignment
    from thidua.services.consolidation import counted_submissions

    with session_scope(loaded.engine) as session:
        ob_id = session.execute(select(ObligationDef.id).where(ObligationDef.code == ROUND1)).scalar_one()
        counted = counted_submissions(ob_id, True, per_assignment=True)
        query = (
            select(func.count(counted.c.assignment_id))
            .select_from(Assignment)
            .outerjoin(counted, counted.c.assignment_id == Assignment.id)
            .where(Assignment.obligation_id == ob_id)
        )
        compiled = query.compile(session.get_bind(), compile_kwargs={"render_postcompile": True})
        plan = (
            session.connection()
            .exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}",
                compiled.positiontup and tuple(compiled.params[name] for name in compiled.positiontup),
            )
            .all()
        )
    lookups = [row[3] for row in plan if row[3].startswith("SEARCH submission ")]
    assert lookups and all("(assignment_id=?)" in text for text in lookups), lookups
