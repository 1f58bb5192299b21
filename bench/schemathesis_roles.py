"""Fuzz /api/v1 with schemathesis, once per role (issue 10): the target is 0 server errors (5xx).

The server runs in its own process on the seeded Bình Định campaign (SQLite, or PostgreSQL with --postgres);
each role (unit officer, reviewer, office, anonymous) gets a bearer token. schemathesis is not a dependency of
thidua: install it anywhere (`python -m venv /tmp/st && /tmp/st/bin/pip install schemathesis`) and point
SCHEMATHESIS at its command.

    SCHEMATHESIS=/tmp/st/bin/schemathesis /work/main/.venv/bin/python bench/schemathesis_roles.py [--examples 30]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench.bench_concurrency import seed, serve  # noqa: E402
from bench.benchlib import bench_database  # noqa: E402
from thidua.db import make_engine  # noqa: E402
from thidua.notifications.sink import free_port  # noqa: E402
from thidua.web.users import create_api_token  # noqa: E402

ROLES = {"don-vi": "officer_d1_1", "nguoi-duyet": "reviewer_d1", "van-phong": "office", "an-danh": None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--examples", type=int, default=30)
    args = parser.parse_args()
    command = os.environ.get("SCHEMATHESIS", "schemathesis")
    workdir = Path(tempfile.mkdtemp(prefix="bench-st-"))
    url = bench_database(args.postgres, workdir, "bench_schemathesis")
    users = seed(url)
    engine = make_engine(url)
    tokens = {}
    with Session(engine) as session:
        for role, who in ROLES.items():
            if who:
                tokens[role] = create_api_token(
                    session, users[who], label=f"schemathesis {role}", actor="bench", now=datetime.now(timezone.utc)
                )
        session.commit()
    engine.dispose()
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(target=serve, args=(url, port, str(workdir)), daemon=True)
    server.start()
    results = {}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        for role in ROLES:
            headers = ["-H", f"Authorization: Bearer {tokens[role]}"] if role in tokens else []
            started = time.perf_counter()
            run = subprocess.run(
                [
                    command,
                    "run",
                    f"http://127.0.0.1:{port}/api/v1/openapi.json",
                    "--checks",
                    "not_a_server_error",
                    "--max-examples",
                    str(args.examples),
                    "--no-color",
                    *headers,
                ],
                capture_output=True,
                text=True,
                timeout=1800,
            )
            output = run.stdout + run.stderr
            errors = re.findall(r"Server error", output)
            cases = re.search(r"(\d+) generated", output)
            results[role] = {
                "exit": run.returncode,
                "server_errors": len(errors),
                "test_cases": int(cases.group(1)) if cases else None,
                "seconds": round(time.perf_counter() - started, 1),
            }
            if errors:
                print(output[-4000:], file=sys.stderr)
    finally:
        server.terminate()
        server.join(10)
    print(
        json.dumps(
            {"database": "postgresql" if args.postgres else "sqlite", "examples": args.examples, "roles": results},
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
