"""Several dispatch processes on one database: every due reminder sent exactly once, none lost."""

from __future__ import annotations

import email
import email.policy
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.models.tables import AuditLog
from thidua.notifications.sink import RunningSink
from tests.scaleout.conftest import ROUND_2_MINUS_7, insert_tree, load_bd_campaign, smtp_for
from thidua.services.dispatch_workers import WorkerPoolError, _Job, _run_pool, run_dispatch_workers
from thidua.settings import Settings

O = OutboxMessage.__table__  # type: ignore[attr-defined]


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _ledger(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return dict(session.execute(select(O.c.status, func.count()).group_by(O.c.status)).all())


def _claims(engine: Engine) -> list[tuple[str, list[int]]]:
    with Session(engine) as session:
        rows = session.execute(select(AuditLog.after).where(AuditLog.action == "outbox.claimed")).scalars().all()
    return [(row["owner"], row["ids"]) for row in rows]


@pytest.mark.postgres
@pytest.mark.slow
def test_four_worker_processes_send_each_due_reminder_exactly_once(
    pg_engine: Engine, tmp_path: Path, counting_sink: RunningSink
) -> None:
    insert_tree(pg_engine, districts=25, cdcs_per_district=100)
    load_bd_campaign(pg_engine, tmp_path)
    settings = Settings(data_dir=tmp_path / "data", database_url=_url(pg_engine), dispatch_batch_size=100)

    started = time.perf_counter()
    summary = run_dispatch_workers(settings, 4, now=ROUND_2_MINUS_7, smtp=smtp_for(counting_sink))
    print(
        f"4 workers: {summary.totals.sent} mails in {summary.seconds:.1f} s of sending "
        f"({time.perf_counter() - started:.1f} s with planning and process start-up)"
    )

    assert summary.failed_workers == [] and not summary.stopped_early
    with Session(pg_engine) as session:
        rows = session.execute(select(O.c.id, O.c.kind, O.c.message_id)).all()
    planned = summary.plan.reminders + summary.plan.escalations + summary.plan.office_digests
    assert summary.plan.reminders >= 2500 and len(rows) == planned
    # Zero losses: every planned row is recorded as sent, and the sink received exactly that many.
    assert _ledger(pg_engine) == {"sent": len(rows)}
    handler = counting_sink.handler
    assert handler.messages == len(rows) == summary.totals.sent
    # Zero duplicates: each Message-ID once, and they are exactly the ledger's.
    assert handler.duplicates() == {}
    assert set(handler.message_ids) == {row.message_id for row in rows}
    # The claims never overlapped: every row was leased once, by one worker, and all four took part.
    claims = _claims(pg_engine)
    claimed_ids = [i for _, ids in claims for i in ids]
    assert sorted(claimed_ids) == sorted(row.id for row in rows)
    by_owner = Counter()
    for owner, ids in claims:
        by_owner[owner] += len(ids)
    assert len(by_owner) == 4
    assert {r.owner: r.totals.claimed for r in summary.reports} == dict(by_owner)


def test_a_pool_on_sqlite_is_refused_and_changes_nothing(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    insert_tree(engine, districts=1, cdcs_per_district=2)
    load_bd_campaign(engine, tmp_path)
    with pytest.raises(WorkerPoolError, match="SQLite chỉ cho một giao dịch ghi"):
        run_dispatch_workers(settings, 2, now=ROUND_2_MINUS_7)
    assert _ledger(engine) == {}
    with pytest.raises(WorkerPoolError, match="từ 1 đến 64"):
        run_dispatch_workers(settings, 0, now=ROUND_2_MINUS_7)


def test_one_worker_process_on_sqlite_sends_the_wave(
    engine: Engine, settings: Settings, tmp_path: Path, counting_sink: RunningSink
) -> None:
    insert_tree(engine, districts=2, cdcs_per_district=5)
    load_bd_campaign(engine, tmp_path)
    summary = run_dispatch_workers(settings, 1, now=ROUND_2_MINUS_7, smtp=smtp_for(counting_sink))
    sent = _ledger(engine)
    assert summary.failed_workers == [] and summary.plan.reminders >= 10
    assert sent == {"sent": summary.totals.sent} and counting_sink.handler.messages == summary.totals.sent
    # A second pass at the same moment finds nothing new to plan or send.
    again = run_dispatch_workers(settings, 1, now=ROUND_2_MINUS_7, smtp=smtp_for(counting_sink))
    assert (again.plan.reminders, again.totals.claimed) == (0, 0)
    assert counting_sink.handler.messages == summary.totals.sent


def test_workers_that_cannot_reach_the_database_stop_the_pool_before_anything_is_sent(tmp_path: Path) -> None:
    broken = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'missing' / 'thidua.db'}")
    job = _Job(
        broken.model_dump(),
        smtp=None,
        now=ROUND_2_MINUS_7,
        campaign_id=None,
        batch_size=None,  # type: ignore[arg-type]
        lease_s=60,
    )
    with pytest.raises(WorkerPoolError, match="không khởi động được.*không kết nối được cơ sở dữ liệu"):
        _run_pool(job, 2, start_timeout_s=60)


def test_failures_of_the_wave_are_reported_to_the_office_once_after_the_workers(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    from thidua.notifications.sink import FaultInjectingHandler, start_sink

    insert_tree(engine, districts=1, cdcs_per_district=4)
    load_bd_campaign(engine, tmp_path)
    sink = start_sink(FaultInjectingHandler(refuse_recipients={"bdh-d1-2@example.vn": 550}))
    try:
        summary = run_dispatch_workers(settings, 1, now=ROUND_2_MINUS_7, smtp=smtp_for(sink))
    finally:
        sink.stop()
    assert (summary.totals.failed, summary.failure_reports) == (1, 1)
    with Session(engine) as session:
        reports = session.execute(select(O.c.recipient, O.c.status).where(O.c.kind == "failure_report")).all()
    assert [tuple(r) for r in reports] == [("ban.cspl@ldld.binhdinh.vn", "sent")]
    office = [
        email.message_from_bytes(m.content, policy=email.policy.default)
        for m in sink.handler.accepted
        if m.rcpt_tos == ["ban.cspl@ldld.binhdinh.vn"]
    ]
    assert any("bdh-d1-2@example.vn" in m.get_body(preferencelist=("plain",)).get_content() for m in office)
