"""`thidua demo --year 2025`, shortened to the weeks around the merger of 01/07/2025: the work follows the
successors, nothing is sent twice, and both structures report the same totals."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from thidua.db import make_engine
from thidua.models.outbox import OutboxMessage
from thidua.models.tables import Assignment, Campaign, Unit
from thidua.notifications.sink import EmlDirectoryHandler, free_port, start_sink
from thidua.services.status import status_report
from thidua.settings import Settings
from thidua.simulation_2025 import CAMPAIGN, Simulation2025


def test_the_2025_campaign_crosses_the_merger(tmp_path: Path):
    settings = Settings(data_dir=tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none")
    handler = EmlDirectoryHandler(settings.mail_dir)
    sink = start_sink(handler, host="127.0.0.1", port=settings.smtp_port)
    try:
        summary = Simulation2025(
            settings, cdcs_per_union=2, start=date(2025, 6, 23), end=date(2025, 7, 18), report=lambda line: None
        ).run()
    finally:
        sink.stop()
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        gla = session.scalars(select(Unit).where(Unit.code == "GLA")).one()
        assert session.scalars(select(Campaign.root_unit_id)).one() == gla.id
        # the districts' own round-1 reports owed on 10/07 no longer apply at the new levels; the commune union
        # takes the Quy Nhơn federation's year-end report
        assert summary.carried["assignment.closed"] >= 5 and summary.carried["assignment.moved"] == 1
        assert summary.carried["campaign"] == 1 and summary.audit_carried == sum(summary.carried.values())
        xqn = session.scalars(select(Unit.id).where(Unit.code == "GLA.XQN")).one()
        assert session.scalar(select(func.count()).select_from(Assignment).where(Assignment.unit_id == xqn)) == 1
        # the ledger holds one row per key, and every sent message reached the sink once
        assert summary.duplicate_keys == 0
        sent = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sent"))
        assert sent == summary.eml_files == len(handler.stored) > 0
        assert summary.mail_sent_before > 0 and summary.mail_sent_after > 0
        now = status_report(session, CAMPAIGN)
        then = status_report(session, CAMPAIGN, tree_on=date(2025, 6, 30))
        assert now.scope_code == "GLA" and then.scope_code == "TLD"
        assert now.total.owed == then.total.owed + (then.unplaced.owed if then.unplaced else 0)
    assert summary.files["Báo cáo tổng kết năm (Excel)"].exists()
    engine.dispose()
