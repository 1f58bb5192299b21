"""Benchmark (issue 10, point 6): many people at once on one report, against real server processes.

`readers` concurrent GET /duyet and `writers` concurrent approvals of one report, all started together (one
connection each), on SQLite or PostgreSQL, served by one or two uvicorn processes (two processes share the
database as two `thidua web` would). Target: 0 answers >= 500; the writers get one 303 (the approval) and 409
for the rest. Each repeat approves another report (BDH.D1.1, .2, .3).

    /work/main/.venv/bin/python bench/bench_concurrency.py [--postgres] [--servers 2] [--readers 100]
                                                          [--writers 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

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
        for code in ("BDH.D1.1", "BDH.D1.2", "BDH.D1.3"):
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


def assignment_ids(url: str) -> list[int]:
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
            for code in ("BDH.D1.1", "BDH.D1.2", "BDH.D1.3")
        ]
    engine.dispose()
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--writers", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-dong-thoi-"))
    url = bench_database(args.postgres, workdir, "bench_dong_thoi")
    users = seed(url)
    ids = assignment_ids(url)
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
        for repeat in range(args.repeats):
            result = hammer(
                [f"http://127.0.0.1:{p}" for p in ports],
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
                }
            )
        print(
            json.dumps(
                {
                    "database": "postgresql" if args.postgres else "sqlite",
                    "servers": args.servers,
                    "readers": args.readers,
                    "writers": args.writers,
                    "runs": runs,
                    "median_seconds": statistics.median(r["seconds"] for r in runs),
                },
                ensure_ascii=False,
            )
        )
    finally:
        for process in servers:
            process.terminate()
            process.join(10)


if __name__ == "__main__":
    main()
