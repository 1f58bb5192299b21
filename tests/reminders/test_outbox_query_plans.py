"""The office digest's statements stay index seeks however the outbox grows (issue 17 target 6).

A campaign's outbox holds almost only reminders; after ANALYZE, SQLite's statistics then say that (campaign,
kind) does not narrow anything, and with an index on (campaign_id, kind) alone the planner preferred to walk
`ix_outbox_status_scheduled` for "the previous digest" — every row before `now`: 67 ms at 100,000 rows where
10,000 and 1,000,000 took about 1 ms. The digest's statements must be index searches, the previous digest's
within the campaign's digests; `reminders status` counts by kind and status from an index alone."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, insert, text

from thidua.db import session_scope
from thidua.services.reminders import status_report
from thidua.services.reminders.contents import office_digest_figures
from tests.factories import year_of_outbox_rows
from tests.reminders.conftest import O, Campaign

NOW = datetime(2023, 10, 12, 1, 0, tzinfo=UTC)


def _fill_with_reminders(campaign: Campaign, rows: int) -> int:
    with session_scope(campaign.engine) as session:
        campaign_id = session.execute(text("SELECT id FROM campaign")).scalar_one()
    unit_ids = [unit.id for unit in campaign.units.values()]
    values = year_of_outbox_rows(campaign_id, unit_ids, 0, rows, statuses=["sent"] * 95 + ["failed"] * 5, seed=17)
    with campaign.engine.begin() as conn:
        conn.execute(insert(O), values)
        conn.execute(text("ANALYZE"))
    return campaign_id


def test_every_digest_statement_is_an_index_search_bounded_in_time(campaign: Campaign) -> None:
    campaign_id = _fill_with_reminders(campaign, 3000)
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if "FROM outbox" in statement:
            statements.append((statement, parameters))

    event.listen(campaign.engine, "before_cursor_execute", capture)
    try:
        with session_scope(campaign.engine) as session:
            office_digest_figures(session, campaign_id, "Asia/Ho_Chi_Minh", now=NOW, frequency="daily")
    finally:
        event.remove(campaign.engine, "before_cursor_execute", capture)
    previous = [(s, p) for s, p in statements if "max(outbox.scheduled_at)" in s]
    assert len(previous) == 1, statements
    with campaign.engine.connect() as conn:
        plans = {
            statement: " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
            for statement, params in statements
        }
    for statement, plan in plans.items():
        assert plan.startswith("SEARCH outbox USING"), (statement, plan)
    [previous_plan] = [plans[s] for s, _ in previous]
    # campaign, kind and the time bound in one index: the latest digest is one seek, not a walk over the year.
    assert "kind=? AND scheduled_at<?" in previous_plan, previous_plan


def test_reminders_status_counts_from_the_index_alone(campaign: Campaign) -> None:
    _fill_with_reminders(campaign, 3000)
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ARG001
        if "count(*)" in statement and "GROUP BY outbox.kind, outbox.status" in statement:
            statements.append((statement, parameters))

    event.listen(campaign.engine, "before_cursor_execute", capture)
    try:
        report = status_report(campaign.engine, "bd-2023")
    finally:
        event.remove(campaign.engine, "before_cursor_execute", capture)
    assert sum(report.by_kind.values()) == 3000
    [(statement, params)] = statements
    with campaign.engine.connect() as conn:
        plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
    # At 1,000,000 rows: 1.7 s reading every row from the table, 0.43 s from a covering index.
    assert plan.startswith("SEARCH outbox USING COVERING INDEX"), plan
