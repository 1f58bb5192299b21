"""Benchmark (issue 10, point 6): many people at once on one report, against real server processes.

`readers` concurrent GET /duyet and `writers` concurrent approvals of one report, all started together (one
connection each), on SQLite or PostgreSQL, served by one or two uvicorn processes (two processes share the
database as two `thidua web` would). Target: 0 answers >= 500; the writers get one 303 (the approval) and 409
for the rest. Each repeat approves another report (BDH.D1.1, .2, .3).

Beside it, the floors (issue 17), measured in the same run against the same server processes: before each
repeat, the same number of concurrent requests with the same connection pattern to pages without database
work (a static file; the sign-in page without a cookie, which passes the application's middleware and request
limit); after the repeats, one approval's writes as bare SQL through the driver's own connection (the two
UPDATEs and the audit row, one transaction), repeated on a report of its own (BDH.D2.1) and undone untimed.

    /work/main/.venv/bin/python bench/bench_concurrency.py [--postgres] [--servers 2] [--readers 100]
                                                          [--writers 50] [--repeats 3] [--sql-repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.benchlib import bench_database  # noqa: E402
from tests.conftest import BINH_DINH_CAMPAIGN  # noqa: E402
from tests.factories import small_binh_dinh  # noqa: E402
from tests.web.concurrency import hammer, reviewer_cookie  # noqa: E402
from tests.web.conftest import CAMPAIGN_NOW, PEOPLE  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.models.tables import User  # noqa: E402
from thidua.notifications.sink import free_port  # noqa: E402
from thidua.services.campaigns import load_campaign  # noqa: E402
from thidua.services.submissions import submit_report  # noqa: E402
from thidua.settings import Settings  # noqa: E402

SECRET = "khoa-do-dong-thoi-bench"
HAMMERED = ("BDH.D1.1", "BDH.D1.2", "BDH.D1.3")
FLOOR_REPORT = "BDH.D2.1"  # approved and undone by the bare-SQL floor; not in the hammered reviewer's queue
HTTP_FLOORS = (("static", "/static/app.css"), ("sign_in", "/dang-nhap"))


def seed(url: str) -> dict[str, User]:
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine, expire_on_commit=False) as session:
        units = small_binh_dinh(session)
        users = {}
        for key, email, unit_code, role in PEOPLE:
            users[key] = User(email=email, unit_id=units[unit_code].id, role=role, full_name=key)
            session.add(users[key])
        session.commit()
    load_campaign(engine, BINH_DINH_CAMPAIGN)
    with Session(engine) as session:
        for code in (*HAMMERED, FLOOR_REPORT):
            submit_report(
                session,
                campaign_code="bd-2023",
                obligation_code="so-ket-dot-1",
                unit_code=code,
                raw={"so_sang_kien": 3, "so_doan_vien_moi": 4},
                actor="bench",
                now=CAMPAIGN_NOW,
            )
        session.commit()
    engine.dispose()
    return users


def serve(url: str, port: int, data_dir: str) -> None:
    import uvicorn

    from thidua.web.app import create_app

    settings = Settings(data_dir=Path(data_dir), database_url=url, secret_key=SECRET)
    app = create_app(settings, make_engine(url), clock=lambda: CAMPAIGN_NOW)
    app.state.send_mail_now = None
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def assignment_ids(url: str, codes: tuple[str, ...]) -> list[int]:
    from sqlalchemy import select

    from thidua.models.tables import Assignment, ObligationDef, Unit

    engine = make_engine(url)
    with Session(engine) as session:
        ids = [
            session.execute(
                select(Assignment.id)
                .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
                .join(Unit, Unit.id == Assignment.unit_id)
                .where(Unit.code == code, ObligationDef.code == "so-ket-dot-1")
            ).scalar_one()
            for code in codes
        ]
    engine.dispose()
    return ids


async def _burst(base_urls: list[str], path: str, count: int, timeout: float = 120) -> tuple[Counter, float]:
    """`count` concurrent GETs of `path`, one connection each, spread over the servers as `hammer` spreads them."""
    import httpx

    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    clients = [httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) for url in base_urls]
    try:
        start = asyncio.get_running_loop().time()

        async def get(i: int) -> int:
            return (await clients[i % len(clients)].get(path)).status_code

        answers = await asyncio.gather(*[get(i) for i in range(count)])
        seconds = asyncio.get_running_loop().time() - start
    finally:
        for client in clients:
            await client.aclose()
    return Counter(answers), seconds


APPROVAL_SQL = (
    "UPDATE assignment SET status = :status, submitted_at = :submitted_at, reviewed_at = :now, late = :late, "
    "current_version = :current_version, version = :new_version, updated_at = :now "
    "WHERE id = :id AND version = :version",
    "UPDATE submission SET review_status = :review_status, review_comment = NULL, reviewed_by = :actor, "
    "reviewed_at = :now, appraised_rating = NULL "
    "WHERE assignment_id = :id AND version = :current_version AND review_status = :pending",
    "INSERT INTO auditlog (at, actor, action, entity, entity_id, before, after, campaign_id, unit_id, note) "
    "VALUES (:now, :actor, 'submission.accepted', 'assignment', :entity_id, :before, :after, :campaign, :unit, '')",
)
UNDO_SQL = (
    "UPDATE assignment SET status = 'da_gui', reviewed_at = NULL WHERE id = :id",
    "UPDATE submission SET review_status = 'cho_duyet', reviewed_by = NULL, reviewed_at = NULL "
    "WHERE assignment_id = :id AND version = :current_version",
    "DELETE FROM auditlog WHERE entity = 'assignment' AND entity_id = :entity_id AND actor = :actor",
)


def approval_floor(url: str, assignment_id: int, actor: str, repeats: int, warmup: int = 2) -> dict[str, Any]:
    """What one approval writes (web/routes_review.py → review_many: the assignment, the submission, the audit row)
    as bare SQL in one transaction through the driver's own connection; undone after each run, untimed."""
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    conn = engine.raw_connection()
    prepare = (lambda sql: sql) if sqlite else (lambda sql: re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql))
    approve, undo = [prepare(sql) for sql in APPROVAL_SQL], [prepare(sql) for sql in UNDO_SQL]
    # What the ORM binds: SQLite stores naive UTC text, PostgreSQL gets the aware datetime.
    moment = CAMPAIGN_NOW.astimezone(timezone.utc)
    now: Any = moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else moment
    timings = []
    try:
        for run in range(warmup + repeats):
            cursor = conn.cursor()
            cursor.execute(
                prepare(
                    "SELECT version, submitted_at, late, current_version, campaign_id, unit_id, status "
                    "FROM assignment WHERE id = :id"
                ),
                {"id": assignment_id},
            )
            version, submitted_at, late, current_version, campaign_id, unit_id, status = cursor.fetchone()
            conn.rollback()
            params = {
                "id": assignment_id,
                "version": version,
                "new_version": version + 1,
                "status": "da_duyet",
                "submitted_at": submitted_at,
                "late": late,
                "current_version": current_version,
                "now": now,
                "review_status": "da_duyet",
                "pending": "cho_duyet",
                "actor": actor,
                "entity_id": str(assignment_id),
                "before": json.dumps({"status": status}),
                "after": json.dumps({"status": "da_duyet", "version": current_version, "appraised_rating": None}),
                "campaign": campaign_id,
                "unit": unit_id,
            }
            t0 = time.perf_counter()
            changed = []
            for sql in approve:
                cursor.execute(sql, params)
                changed.append(cursor.rowcount)
            conn.commit()
            elapsed = (time.perf_counter() - t0) * 1000
            assert changed == [1, 1, 1], f"một lần duyệt phải đổi đúng 1 dòng mỗi câu, được {changed}"
            if run >= warmup:
                timings.append(elapsed)
            for sql in undo:
                cursor.execute(sql, params)
            conn.commit()
            cursor.close()
    finally:
        conn.close()
        engine.dispose()
    ordered = sorted(timings)
    return {
        "statements": len(APPROVAL_SQL),
        "runs": len(timings),
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 2),
        "max_ms": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sql-repeats", type=int, default=20, help="bare-SQL approvals timed for the floor")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-dong-thoi-"))
    url = bench_database(args.postgres, workdir, "bench_dong_thoi")
    users = seed(url)
    ids = assignment_ids(url, HAMMERED)
    (floor_id,) = assignment_ids(url, (FLOOR_REPORT,))
    ports = [free_port() for _ in range(args.servers)]
    ctx = multiprocessing.get_context("spawn")
    servers = [ctx.Process(target=serve, args=(url, port, str(workdir)), daemon=True) for port in ports]
    for process in servers:
        process.start()
    try:
        for port in ports:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/dang-nhap", timeout=2)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "server did not start"
                    time.sleep(0.2)
        reviewer = users["reviewer_d1"]
        settings = Settings(data_dir=workdir, secret_key=SECRET)
        cookie, csrf = reviewer_cookie(settings, reviewer.id, reviewer.email, CAMPAIGN_NOW, sid="phien-bench")
        runs = []
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        for _key, path in HTTP_FLOORS:  # untimed: the servers' first answers (worker threads, file handles)
            asyncio.run(_burst(bases, path, args.readers + args.writers))
        for repeat in range(args.repeats):
            floors = {}
            for key, path in HTTP_FLOORS:
                statuses, seconds = asyncio.run(_burst(bases, path, args.readers + args.writers))
                floors[key] = {"status": dict(statuses), "seconds": round(seconds, 2)}
            result = hammer(
                bases,
                cookie,
                csrf,
                ids[repeat % len(ids)],
                readers=args.readers,
                writers=args.writers,
            )
            runs.append(
                {
                    "readers": dict(result.readers),
                    "writers": dict(result.writers),
                    "server_errors": result.server_errors,
                    "seconds": round(result.seconds, 2),
                    "floor_http": floors,
                }
            )
        sql_floor = approval_floor(url, floor_id, reviewer.email, args.sql_repeats)
        summary = {
            "database": "postgresql" if args.postgres else "sqlite",
            "servers": args.servers,
            "readers": args.readers,
            "writers": args.writers,
            "runs": runs,
            "median_seconds": statistics.median(r["seconds"] for r in runs),
            "floor_http_median_seconds": {
                key: statistics.median(r["floor_http"][key]["seconds"] for r in runs) for key, _ in HTTP_FLOORS
            },
            "floor_sql_approval": sql_floor,
        }
        print(json.dumps(summary, ensure_ascii=False))
        floor = summary["floor_http_median_seconds"]
        print(
            f"Đợt {args.readers} đọc + {args.writers} ghi: trung vị {summary['median_seconds']} s"
            f" | sàn HTTP, {args.readers + args.writers} yêu cầu đồng thời cùng kiểu kết nối:"
            f" tệp tĩnh {floor['static']} s, trang đăng nhập {floor['sign_in']} s"
            f" | sàn SQL một lần duyệt ({sql_floor['statements']} câu, một giao dịch):"
            f" p50 {sql_floor['p50_ms']} ms, p95 {sql_floor['p95_ms']} ms ({sql_floor['runs']} lần)"
        )
    finally:
        for process in servers:
            process.terminate()
            process.join(10)


if __name__ == "__main__":
    main()
