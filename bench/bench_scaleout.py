"""Benchmark (issue 7): the production mode at national scale — PostgreSQL beside SQLite.

    python bench/bench_scaleout.py [--cdcs 130000] [--obligations 10] [--workers 1,2,4] [--backends pg,sqlite]

For each database:
  1. plan: the national tree (bench_plan: generated CSV → import_units) and a campaign of `--obligations`
     obligations for every CĐCS (load_campaign), with a one-rung reminder ladder;
  2. one dispatch wave: at 09:00 on Mon 24/02/2025 the −7 reminder of the second obligation is due for every
     CĐCS. Planned with plan_due, then sent by thidua.services.dispatch_workers.run_dispatch_workers with 1, 2
     and 4 worker processes (SQLite: 1 only, its single writer would serialise the others). Before each
     wave the outbox is emptied and planned again, so every wave sends the same N messages. The SMTP server
     is a counting aiosmtpd sink in its own process; a wave fails if a Message-ID is missing or repeated or
     if the ledger does not say `sent` for every row;
  3. a round consolidation over N CĐCS with one report each (bench_consolidation's data set).

Each figure has its floor beside it, measured in the same run: after each wave the same number of prebuilt
reminders of this campaign sent by bare aiosmtplib `sendmail` from as many processes over as many connections
to the same sink; after the consolidation bench_consolidation's bare-SQL floor (the same aggregates written by
one INSERT … SELECT, checked unit for unit against the consolidation's).

Worker and sink CPU are reported per message: on a machine with few cores they show where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, delete, func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_consolidation  # noqa: E402
import bench_plan  # noqa: E402
from bench_dispatch import raw_send  # noqa: E402
from benchlib import PG_URL, in_child, sink_process  # noqa: E402
from thidua.models.clock import local_to_utc  # noqa: E402
from thidua.models.outbox import OutboxMessage  # noqa: E402
from thidua.notifications.transport import SmtpSettings  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.services import reminders as service  # noqa: E402
from thidua.services.dispatch_workers import PoolSummary, run_dispatch_workers  # noqa: E402
from thidua.settings import Settings  # noqa: E402
from thidua.unitgen import national_tree, write_units_csv  # noqa: E402


SCHEMA = "bench_scaleout"
WAVE_AT = local_to_utc(datetime(2025, 2, 24, 9, 0))  # −7 days before "nghia-vu-02", due Mon 03/03/2025
SENDER = "thidua@congdoan.vn"
LADDER = """reminder_ladders:
  - code: mac-dinh
    name: Nhắc trước 7 ngày
    send_time: "08:00"
    office_digest: none
    rungs:
      - {code: truoc-7-ngay, offset_days: -7}
default_ladder: mac-dinh
"""
O = OutboxMessage.__table__  # type: ignore[attr-defined]


# --- the sink, in its own process ------------------------------------------------------------------
def ask(conn: multiprocessing.connection.Connection, command: str) -> dict:
    conn.send(command)
    return conn.recv()


# --- the steps -------------------------------------------------------------------------------------------
def prepare(backend: str, workdir: Path, name: str) -> str:
    """An empty database: a SQLite file, or a PostgreSQL schema of the bench's own (dropped by `drop`)."""
    if backend == "sqlite":
        return f"sqlite:///{workdir / (name + '.db')}"
    drop(name)
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {name}"))
    admin.dispose()
    return PG_URL + f"?options=-csearch_path%3D{name}"


def drop(name: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
    admin.dispose()


def plan_campaign(url: str, workdir: Path, cdcs: int, obligations: int) -> dict[str, float]:
    create_schema(make_engine(url))
    csv_path = workdir / "national.csv"
    units = write_units_csv(national_tree(cdcs_total=cdcs), csv_path)
    import_s, created, import_peak = in_child(bench_plan.step_import, url, csv_path)
    campaign_path = workdir / "campaign.yaml"
    campaign_path.write_text(bench_plan.campaign_yaml(obligations) + LADDER, encoding="utf-8")
    load_s, assignments, load_peak = in_child(bench_plan.step_load, url, campaign_path)
    engine = make_engine(url)
    with engine.connect() as conn:
        stored = conn.execute(text("select count(*) from assignment")).scalar_one()
    engine.dispose()
    return {
        "units": units,
        "import_s": import_s,
        "import_peak_mb": import_peak,
        "assignments": stored,
        "load_s": load_s,
        "load_peak_mb": load_peak,
    }


def wave(
    url: str,
    workdir: Path,
    workers: int,
    port: int,
    conn: multiprocessing.connection.Connection,
    batch: int,
    connections: int,
) -> dict[str, float]:
    engine = make_engine(url)
    with engine.begin() as db:
        db.execute(delete(O))
    t0 = time.perf_counter()
    plan = service.plan_due(engine, now=WAVE_AT)
    plan_s = time.perf_counter() - t0
    vacuum(engine)
    ask(conn, "reset")
    sink_cpu_before = ask(conn, "count")["cpu_s"]
    settings = Settings(data_dir=workdir, database_url=url, dispatch_batch_size=batch, smtp_connections=connections)
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=port,
        sender=SENDER,
        sender_name=settings.smtp_sender_name,
        connections=connections,
        batch_size=1000,
        local_hostname="bench.local",
    )
    load_before = os.getloadavg()[0]
    summary: PoolSummary = run_dispatch_workers(settings, workers, now=WAVE_AT, smtp=smtp)
    counts = ask(conn, "count")
    with engine.connect() as db:
        ledger = dict(db.execute(select(O.c.status, func.count()).group_by(O.c.status)).all())
    engine.dispose()
    rows = plan.reminders
    if (
        summary.failed_workers
        or counts["messages"] != rows
        or counts["distinct"] != rows
        or counts["duplicated"]
        or ledger != {"sent": rows}
    ):
        raise SystemExit(
            f"{workers} workers: the sink or the ledger disagrees: planned {rows}, sink {counts}, "
            f"ledger {ledger}, failed workers {summary.failed_workers}"
        )
    worker_cpu = sum(r.cpu_seconds for r in summary.reports)
    sink_cpu = counts["cpu_s"] - sink_cpu_before
    return {
        "workers": workers,
        "messages": rows,
        "plan_s": plan_s,
        "wave_s": summary.seconds,
        "msg_s": rows / summary.seconds,
        "worker_cpu_us": worker_cpu / rows * 1e6,
        "sink_cpu_us": sink_cpu / rows * 1e6,
        "cores_busy": (worker_cpu + sink_cpu) / summary.seconds,
        "load_1m": load_before,
        "claimed_by_worker": [r.totals.claimed for r in summary.reports],
    }


def prebuilt_reminders(url: str, workdir: Path) -> list[tuple[str, list[str], bytes]]:
    """Up to 1,000 reminders of this wave, built as dispatch builds them (nothing queued), for the raw floor."""
    engine = make_engine(url)
    settings = Settings(data_dir=workdir, database_url=url)
    builder = SmtpSettings(host="127.0.0.1", sender=SENDER, sender_name=settings.smtp_sender_name)
    sample = service.render_preview(engine, settings, "toan-quoc-bench", now=WAVE_AT, days=1, limit=1000, smtp=builder)
    engine.dispose()
    if not sample:
        raise SystemExit("no reminder is due at the wave's moment: nothing to prebuild for the raw floor")
    return [(SENDER, [f"raw{i}@donvi.congdoan.vn"], message) for i, (_, message) in enumerate(sample)]


def _raw_process(port: int, share: list[tuple[str, list[str], bytes]], connections: int, start) -> None:  # noqa: ANN001
    start.wait()
    asyncio.run(raw_send(port, share, connections))


def raw_floor(
    port: int,
    conn: multiprocessing.connection.Connection,
    prebuilt: list[tuple[str, list[str], bytes]],
    messages: int,
    workers: int,
    connections: int,
) -> dict[str, float]:
    """The wave's floor: `messages` prebuilt mails by bare sendmail from `workers` processes with `connections`
    connections each, timed like the wave (from a common start once the processes are up to the last one's end)."""
    ctx = multiprocessing.get_context("fork")  # the shares are inherited, not pickled
    start = ctx.Barrier(workers + 1)
    processes = [
        ctx.Process(
            target=_raw_process,
            args=(port, [prebuilt[j % len(prebuilt)] for j in range(i, messages, workers)], connections, start),
        )
        for i in range(workers)
    ]
    ask(conn, "reset")
    sink_cpu_before = ask(conn, "count")["cpu_s"]
    for process in processes:
        process.start()
    start.wait()
    t0 = time.perf_counter()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - t0
    counts = ask(conn, "count")
    if counts["messages"] != messages or any(p.exitcode for p in processes):
        raise SystemExit(f"raw floor: sent {messages}, the sink counted {counts['messages']}")
    return {
        "raw_s": seconds,
        "raw_msg_s": messages / seconds,
        "raw_sink_cpu_us": (counts["cpu_s"] - sink_cpu_before) / messages * 1e6,
    }


def vacuum(engine) -> None:  # noqa: ANN001
    """Every wave starts from the same clean outbox. Autovacuum, which would do this in production, is off on
    the bench machine; without it the previous waves' dead row versions would slow the later ones down."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as db:
            db.execute(text("VACUUM (ANALYZE) outbox"))


def consolidation(backend: str, cdcs: int) -> dict[str, float]:
    name = f"{SCHEMA}_tong_hop"
    with tempfile.TemporaryDirectory() as tmp:
        url = prepare(backend, Path(tmp), name)
        in_child(bench_consolidation.build, url, cdcs)
        seconds, aggregating, written, peak = in_child(bench_consolidation.run_consolidation, url)
        floor_s, floor_rows = in_child(bench_consolidation.run_floor, url)
        matching = bench_consolidation.check_floor(url)
    if backend == "pg":
        drop(name)
    return {
        "consolidation_s": seconds,
        "aggregating_units": aggregating,
        "snapshots": written,
        "peak_mb": peak,
        "floor_s": floor_s,
        "floor_rows": floor_rows,
        "floor_matching": matching,
    }


def run_backend(backend: str, args: argparse.Namespace, port: int, conn) -> dict:  # noqa: ANN001
    name = "PostgreSQL" if backend == "pg" else "SQLite"
    with tempfile.TemporaryDirectory(prefix=f"bench-scaleout-{backend}-") as tmp:
        workdir = Path(tmp)
        url = prepare(backend, workdir, SCHEMA)
        planned = plan_campaign(url, workdir, args.cdcs, args.obligations)
        print(
            f"[{name}] kế hoạch: {planned['units']:,} đơn vị nhập trong {planned['import_s']:.1f} s; "
            f"{planned['assignments']:,} nghĩa vụ lập trong {planned['load_s']:.1f} s",
            flush=True,
        )
        counts = [w for w in args.workers if backend == "pg" or w == 1]
        prebuilt = prebuilt_reminders(url, workdir)
        waves = []
        for workers in counts:
            result = wave(url, workdir, workers, port, conn, args.batch, args.connections)
            result.update(raw_floor(port, conn, prebuilt, result["messages"], workers, args.connections))
            waves.append(result)
            print(
                f"[{name}] {workers} tiến trình: {result['messages']:,} thư trong {result['wave_s']:.1f} s = "
                f"{result['msg_s']:.0f} thư/s (lập lịch {result['plan_s']:.1f} s; CPU tiến trình gửi "
                f"{result['worker_cpu_us']:.0f} µs/thư, hộp thư {result['sink_cpu_us']:.0f} µs/thư, "
                f"bận {result['cores_busy']:.2f} lõi; "
                f"tải 1 phút {result['load_1m']:.1f}; mỗi tiến trình nhận {result['claimed_by_worker']})",
                flush=True,
            )
            print(
                f"[{name}]   sàn (SMTP trần: sendmail thư dựng sẵn, {workers} tiến trình × {args.connections} kết nối): "
                f"{result['messages']:,} thư trong {result['raw_s']:.1f} s = {result['raw_msg_s']:.0f} thư/s "
                f"(hộp thư {result['raw_sink_cpu_us']:.0f} µs/thư); gửi thật = {result['msg_s'] / result['raw_msg_s']:.0%} sàn",
                flush=True,
            )
        if backend == "pg":
            drop(SCHEMA)
    consolidated = consolidation(backend, args.cdcs)
    print(
        f"[{name}] tổng hợp một đợt: {consolidated['aggregating_units']:,} đơn vị tổng hợp, "
        f"{consolidated['snapshots']:,} bản số liệu trong {consolidated['consolidation_s']:.2f} s",
        flush=True,
    )
    print(
        f"[{name}]   sàn (SQL trần: một INSERT … SELECT cùng số liệu): {consolidated['floor_rows']:,} dòng trong "
        f"{consolidated['floor_s']:.2f} s (khớp {consolidated['floor_matching']:,} bản); "
        f"tổng hợp = {consolidated['consolidation_s'] / consolidated['floor_s']:.1f}× sàn",
        flush=True,
    )
    return {"backend": backend, **planned, "waves": waves, **consolidated}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cdcs", type=int, default=130_000)
    parser.add_argument("--obligations", type=int, default=10)
    parser.add_argument("--workers", default="1,2,4", help="worker counts on PostgreSQL, comma-separated")
    parser.add_argument("--backends", default="pg,sqlite")
    parser.add_argument("--batch", type=int, default=500, help="rows claimed per batch (THIDUA_DISPATCH_BATCH_SIZE)")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections per worker")
    args = parser.parse_args()
    args.workers = [int(w) for w in args.workers.split(",")]
    print(
        f"{os.cpu_count()} lõi CPU; {args.cdcs:,} CĐCS, {args.obligations} nghĩa vụ; lô {args.batch} thư, "
        f"{args.connections} kết nối SMTP mỗi tiến trình",
        flush=True,
    )
    results = []
    with sink_process() as (port, conn):
        for backend in args.backends.split(","):
            results.append(run_backend(backend, args, port, conn))
    for result in results:
        base = next((w["msg_s"] for w in result["waves"] if w["workers"] == 1), result["waves"][0]["msg_s"])
        scaling = {w["workers"]: round(w["msg_s"] / base, 2) for w in result["waves"]}
        print(f"{result['backend']}: tỉ lệ thông lượng so với 1 tiến trình: {scaling}")
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
