"""Benchmark (issue 17, target 6): the office digest and the failure queries as the outbox grows.

The Bình Định units and the 2023 campaign are loaded, then the outbox grows to 10,000, 100,000 and
1,000,000 rows (Core executemany): one year of mail for the campaign, ~2.7 % of it failed, partial or
unknown. At each size, for a daily digest at 08:00 on 12/10/2023 (its window holds the same ~1/365 of the
rows at every size), the script times (median of --repeat runs):

* the digest: `office_digest_context` (assignment figures, the window's delivery counts, pending count, the
  window's failures) — what the office's daily mail costs to compose;
* the failure report of a day (`failure_report_context`) and `thidua reminders status` (`status_report`);
* the floor: the same three outbox statements run as bare SQL (no ORM, no rendering) against the same indexes;
* the digest without the indexes of migration 0014_h17a_outbox_digest_indexes (dropped, then re-created): what it cost before.

    python bench/bench_digest.py                 # SQLite file in a temporary directory
    python bench/bench_digest.py --pg            # PostgreSQL on 127.0.0.1, schema bench_digest
    python bench/bench_digest.py --sizes 10000,100000

Target: time per digest flat (not growing with the outbox) from 10k to 1M rows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import bench_database  # noqa: E402
from tests.factories import year_of_outbox_rows  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.models.outbox import OutboxMessage  # noqa: E402
from thidua.models.tables import Campaign, Unit  # noqa: E402
from thidua.services.campaigns import load_campaign  # noqa: E402
from thidua.services.reminders import campaign_infos, failure_report_context, office_digest_context, status_report  # noqa: E402
from thidua.services.units import import_units, load_levels  # noqa: E402
from thidua.settings import CONFIG_DIR  # noqa: E402

NOW = datetime(2023, 10, 12, 1, 0, tzinfo=timezone.utc)  # 08:00 in Hà Nội
NEW_INDEXES = {"ix_outbox_campaign_status_scheduled": "(campaign_id, status, scheduled_at)"}
STATUSES = ["sent"] * 950 + ["skipped"] * 23 + ["failed"] * 15 + ["partial"] * 7 + ["unknown"] * 5


def setup(url: str) -> int:
    engine = make_engine(url)
    create_schema(engine)
    load_levels(engine)
    import_units(engine, CONFIG_DIR / "units" / "binh_dinh.yaml")
    load_campaign(engine, CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml")
    with Session(engine) as session:
        campaign_id = session.execute(select(Campaign.id)).scalar_one()
    engine.dispose()
    return campaign_id


def grow(url: str, campaign_id: int, upto: int) -> None:
    """Add outbox rows until there are `upto`: a year of mail spread evenly, seeded."""
    engine = make_engine(url)
    with Session(engine) as session:
        have = session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
        unit_ids = list(session.execute(select(Unit.id)).scalars())
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    for start in range(have, upto, 20_000):
        rows = year_of_outbox_rows(
            campaign_id, unit_ids, start, min(start + 20_000, upto), statuses=STATUSES, seed=start
        )
        with engine.begin() as conn:
            conn.execute(insert(table), rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE") if engine.dialect.name == "sqlite" else text("ANALYZE outbox"))
    engine.dispose()


def median_ms(fn, repeat: int) -> float:  # noqa: ANN001
    fn()  # warm the caches once
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(url: str, campaign_id: int, repeat: int) -> dict[str, float]:
    engine = make_engine(url)
    # The bare statements bind what the ORM binds: SQLite stores naive UTC text, PostgreSQL timestamptz.
    stored = (
        (lambda d: d.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f"))
        if engine.dialect.name == "sqlite"
        else (lambda d: d)
    )
    since, until = stored(NOW - timedelta(days=1)), stored(NOW)
    floor_sql = [
        (
            text(
                "SELECT status, count(*) FROM outbox WHERE campaign_id = :c AND status IN ('sent', 'failed', 'partial', "
                "'unknown') AND scheduled_at >= :s AND scheduled_at < :n GROUP BY status"
            ),
            {"c": campaign_id, "s": since, "n": until},
        ),
        (text("SELECT count(*) FROM outbox WHERE campaign_id = :c AND status = 'pending'"), {"c": campaign_id}),
        (
            text(
                "SELECT id, recipient FROM outbox WHERE campaign_id = :c AND status IN ('failed', 'partial', 'unknown') "
                "AND scheduled_at >= :s AND scheduled_at < :n ORDER BY id DESC LIMIT 20"
            ),
            {"c": campaign_id, "s": since, "n": until},
        ),
    ]
    with Session(engine) as session:
        campaign = campaign_infos(session, [campaign_id])[campaign_id]

        def digest() -> None:
            office_digest_context(session, campaign, now=NOW, frequency="daily")

        def failure_report() -> None:
            failure_report_context(session, campaign, day=NOW.date(), now=NOW)

        def floor() -> None:
            for statement, params in floor_sql:
                session.execute(statement, params).all()

        figures = {
            "digest": median_ms(digest, repeat),
            "failure report": median_ms(failure_report, repeat),
            "floor": median_ms(floor, repeat),
        }
    figures["reminders status"] = median_ms(lambda: status_report(engine, "bd-2023"), repeat)
    engine.dispose()
    return figures


def without_new_indexes(url: str, campaign_id: int, repeat: int) -> float:
    engine = make_engine(url)
    with engine.begin() as conn:
        for name in NEW_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))
    try:
        with Session(engine) as session:
            campaign = campaign_infos(session, [campaign_id])[campaign_id]
            return median_ms(lambda: office_digest_context(session, campaign, now=NOW, frequency="daily"), repeat)
    finally:
        with engine.begin() as conn:
            for name, columns in NEW_INDEXES.items():
                conn.execute(text(f"CREATE INDEX {name} ON outbox {columns}"))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_digest_") as workdir:
        url = bench_database(args.pg, Path(workdir), "bench_digest")
        campaign_id = setup(url)
        print(
            f"{'sqlite' if not args.pg else 'postgresql'}; medians of {args.repeat} runs; "
            f"load average {os.getloadavg()[0]:.1f} at start"
        )
        print(
            f"{'outbox rows':>12} {'digest':>10} {'floor (bare SQL)':>17} {'failure report':>15} "
            f"{'reminders status':>17} {'digest, no 0014 indexes':>24}"
        )
        for size in (int(s) for s in args.sizes.split(",")):
            grow(url, campaign_id, size)
            figures = measure(url, campaign_id, args.repeat)
            before = without_new_indexes(url, campaign_id, max(3, args.repeat // 3))
            print(
                f"{size:>12,} {figures['digest']:>8.1f} ms {figures['floor']:>14.1f} ms "
                f"{figures['failure report']:>12.1f} ms {figures['reminders status']:>14.1f} ms {before:>21.1f} ms",
                flush=True,
            )
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
