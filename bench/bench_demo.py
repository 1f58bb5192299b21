"""Issue 17 target 1: the README's main job (`thidua demo`, the whole 2023 Bình Định year) timed, with the proof
that a faster run is the same run.

Each run starts `thidua demo --fresh` in its own process and data directory (the SMTP sink in its own process, as
in `make demo`), with a fixed secret key. It
reports wall time, CPU of the demo process and of its children (SMTP sink, Prefect's temporary server), peak RSS,
and two fingerprints:

* `results`: every submission, review, nomination step, award decision item and outbox row (key, kind, status,
  recipient, scheduled and sent time), as stored;
* `mail`: the SHA-256 of every .eml file's headers and decoded text, sorted, with the signed tokens of links masked
  (each carries a nonce and its real signing time; file names carry the real clock).

Two runs of the same code and seed give the same fingerprints; a change that keeps them is a change that keeps the
year's results and every word of its mail.

    python bench/bench_demo.py --runs 3            # medians of 3
    python bench/bench_demo.py --runs 1 --keep DIR # keep the data directory for inspection

The floor printed beside it: the same messages (the last run's .eml bytes, prebuilt) sent over 4 connections to
the same kind of SMTP sink process, with no database, rendering or simulation at all, twice: by bare aiosmtplib
`sendmail`, and by thidua's own transport (PIPELINING, one round trip per message). The floor is the faster.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXED_SECRET = "bench-demo-fixed-secret-key-0123456789abcdef0123456789"  # reproducible signed links

RESULT_QUERIES = {
    "submissions": "SELECT assignment_id, version, data, submitted_by, submitted_at, late, review_status, "
    "review_comment, reviewed_by, reviewed_at, appraised_rating, source FROM submission",
    "assignments": "SELECT id, status, late, current_version, submitted_at, reviewed_at FROM assignment",
    "outbox": "SELECT key, kind, status, recipient, scheduled_at, sent_at, rung, template FROM outbox",
    "nomination_steps": "SELECT nomination_id, seq, action, from_status, to_status, at_unit_id, to_unit_id, at "
    "FROM nomination_step",
    "award_items": "SELECT * FROM award_decision_item",
}


def fingerprint_results(db: Path) -> dict[str, object]:
    connection = sqlite3.connect(db)
    try:
        out: dict[str, object] = {}
        for name, query in RESULT_QUERIES.items():
            rows = sorted(repr(row) for row in connection.execute(query))
            out[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16])
        out["sent_by_kind"] = dict(
            connection.execute(
                "SELECT kind, count(*) FROM outbox WHERE status IN ('sent','partial') GROUP BY kind ORDER BY kind"
            ).fetchall()
        )
        return out
    finally:
        connection.close()


# Signed links carry a nonce and the real time of signing: compare them as "a token", not by their bytes.
_TOKENS = re.compile(r"(/huy-nhan-thu/|[?&]t=|/dang-nhap/|/cong-khai/)[A-Za-z0-9._~%-]+")


def mail_text(data: bytes) -> str:
    """A message as headers plus decoded text parts, with signed tokens masked."""
    import email
    from email import policy

    message = email.message_from_bytes(data, policy=policy.default)
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return _TOKENS.sub(lambda m: m.group(1) + "TOKEN", "\n".join(parts))


def fingerprint_mail(mail_dir: Path) -> tuple[int, str]:
    digests = sorted(hashlib.sha256(mail_text(p.read_bytes()).encode()).hexdigest() for p in mail_dir.glob("**/*.eml"))
    return len(digests), hashlib.sha256("\n".join(digests).encode()).hexdigest()[:16]


RUSAGE_PROBE = """
import atexit, json, resource, sys
def _report():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    t = resource.getrusage(resource.RUSAGE_THREAD)  # atexit runs on the main thread
    sys.stderr.write("BENCH-RUSAGE " + json.dumps({"self": s.ru_utime + s.ru_stime, "children": c.ru_utime + c.ru_stime,
        "main_thread": t.ru_utime + t.ru_stime, "peak_rss_mb": s.ru_maxrss / 1024}) + "\\n")
atexit.register(_report)
sys.argv = ["thidua", "demo", "--fresh", *sys.argv[1:]]
from thidua.cli.main import main
main()
"""


def run_once(data_dir: Path, extra: list[str]) -> dict[str, object]:
    env = {**os.environ, "THIDUA_DATA_DIR": str(data_dir), "THIDUA_SECRET_KEY": FIXED_SECRET, "COLUMNS": "140"}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RUSAGE_PROBE, *extra], cwd=ROOT, env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"demo failed with exit code {done.returncode}")
    usage = json.loads(re.search(r"BENCH-RUSAGE (.*)", done.stderr).group(1))  # type: ignore[union-attr]
    days = re.search(r"(\d+) ngày mô phỏng trong ([\d,]+) giây", done.stdout)
    return {
        "wall_s": wall,
        "days_s": float(days.group(2).replace(",", ".")) if days else None,
        "cpu_demo_s": usage["self"],
        "cpu_children_s": usage["children"],
        "cpu_main_thread_s": usage["main_thread"],
        "peak_rss_mb": usage["peak_rss_mb"],
        "results": fingerprint_results(data_dir / "thidua.db"),
        "mail": fingerprint_mail(data_dir / "mail"),
    }


def stored_messages(mail_dir: Path) -> list[tuple[str, list[str], bytes]]:
    """(sender, recipients, bytes) of every stored .eml, from the sink's trace lines."""
    out = []
    for path in sorted(mail_dir.glob("**/*.eml")):
        data = path.read_bytes()
        return_path, envelope_to, content = data.split(b"\r\n", 2)
        sender = return_path.decode().split("<", 1)[1].rstrip(">")
        recipients = [r.strip() for r in envelope_to.decode().split(":", 1)[1].split(",")]
        out.append((sender, recipients, content))
    return out


def raw_smtp_floor(messages: list[tuple[str, list[str], bytes]], connections: int = 4) -> float:
    """The messages, prebuilt, by bare aiosmtplib `sendmail` (one command per round trip)."""
    import asyncio

    import aiosmtplib

    async def one_connection(port: int, share: list[tuple[str, list[str], bytes]]) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench.local", start_tls=False)
        await smtp.connect()
        for sender, recipients, content in share:
            await smtp.sendmail(sender, recipients, content)
        await smtp.quit()

    async def send_all(port: int) -> None:
        await asyncio.gather(*(one_connection(port, messages[i::connections]) for i in range(connections)))

    return _timed_against_a_sink(lambda port: asyncio.run(send_all(port)))


def transport_floor(messages: list[tuple[str, list[str], bytes]], connections: int = 4) -> float:
    """The messages, prebuilt, through thidua's own transport (`deliver`: the demo's connections, PIPELINING with
    one round trip per message), nothing else."""
    import asyncio

    from thidua.notifications.transport import OutgoingMessage, SmtpSettings, deliver

    outgoing = [
        OutgoingMessage(f"m{i}", sender, recipients, content, wire_ready=True)
        for i, (sender, recipients, content) in enumerate(messages)
    ]

    def send_all(port: int) -> None:
        smtp = SmtpSettings(
            host="127.0.0.1", port=port, sender=messages[0][0], connections=connections, local_hostname="bench.local"
        )
        results = asyncio.run(deliver(outgoing, smtp))
        if {r.status for r in results} != {"sent"}:
            raise SystemExit("the transport floor did not send everything")

    return _timed_against_a_sink(send_all)


def _timed_against_a_sink(send: Callable[[int], None]) -> float:
    """Wall time of `send(port)` against a new SMTP sink process writing .eml files, as the demo's."""
    from thidua.notifications.sink import SinkProcess

    with tempfile.TemporaryDirectory(prefix="bench-demo-floor-") as folder:
        sink = SinkProcess(Path(folder), host="127.0.0.1")
        try:
            started = time.perf_counter()
            send(sink.port)
            return time.perf_counter() - started
        finally:
            sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the last run's data directory here")
    parser.add_argument("--expect", type=Path, help="a JSON file of fingerprints every run must match")
    parser.add_argument("--write-expect", type=Path, help="write this run's fingerprints to a JSON file")
    parser.add_argument("demo_args", nargs="*", help="extra `thidua demo` arguments (after --)")
    args = parser.parse_args()
    expected = json.loads(args.expect.read_text()) if args.expect else None
    runs = []
    floor_messages: list[tuple[str, list[str], bytes]] = []
    for number in range(1, args.runs + 1):
        data_dir = Path(tempfile.mkdtemp(prefix="bench-demo-"))
        try:
            run = run_once(data_dir, args.demo_args)
            if number == args.runs:
                floor_messages = stored_messages(data_dir / "mail")
        finally:
            if args.keep and number == args.runs:
                shutil.rmtree(args.keep, ignore_errors=True)
                shutil.move(str(data_dir), args.keep)
            else:
                shutil.rmtree(data_dir, ignore_errors=True)
        prints = {"results": run["results"], "mail": list(run["mail"])}  # type: ignore[arg-type]
        same = None if expected is None else json.loads(json.dumps(prints)) == expected
        runs.append(run)
        print(
            f"run {number}: wall {run['wall_s']:.1f} s (days {run['days_s']} s) · CPU demo {run['cpu_demo_s']:.1f} s"
            f" (main thread {run['cpu_main_thread_s']:.1f} s)"
            f" + children {run['cpu_children_s']:.1f} s · peak {run['peak_rss_mb']:.0f} MB · mail {run['mail'][0]}"  # type: ignore[index]
            f" · fingerprints {'-' if same is None else ('same as expected' if same else 'DIFFERENT')}",
            flush=True,
        )
        if same is False:
            print(json.dumps(prints, indent=1, ensure_ascii=False))
            print("expected:", json.dumps(expected, indent=1, ensure_ascii=False))
        if args.write_expect:
            args.write_expect.write_text(json.dumps(prints, indent=1, ensure_ascii=False))
    if len({json.dumps({"r": r["results"], "m": r["mail"]}) for r in runs}) > 1:
        print("RUNS DIFFER: the demo is not deterministic")
    for key in ("wall_s", "cpu_demo_s", "cpu_main_thread_s", "cpu_children_s", "peak_rss_mb"):
        values = [float(r[key]) for r in runs]  # type: ignore[arg-type]
        print(f"median {key}: {statistics.median(values):.1f} (runs: {', '.join(f'{v:.1f}' for v in values)})")
    if floor_messages:
        raw_s, transport_s = raw_smtp_floor(floor_messages), transport_floor(floor_messages)
        print(
            f"floor: the {len(floor_messages)} messages prebuilt, over 4 connections to the same kind of sink process: "
            f"bare aiosmtplib {raw_s:.1f} s, thidua's transport {transport_s:.1f} s wall; "
            f"year / floor = {statistics.median(float(r['wall_s']) for r in runs) / min(raw_s, transport_s):.2f}"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    main()
