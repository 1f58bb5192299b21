"""Reminder dispatch throughput at national scale: the whole pipeline against raw SMTP and a naive one.

    python bench/bench_dispatch.py [--n 130000] [--connections 4] [--naive-n 3000] [--db-url URL] [--sink lean]

Data: a synthetic national tree (Tổng LĐLĐ → 63 provinces → 11 districts each → N CĐCS, one address each)
inserted with Core, and a campaign whose round-2 report is due Tue 10/10/2023; at 09:00 on 03/10 the −7
reminder is due for all N units (plus the office digest).

The sink runs in its own process and counts Message-IDs: the run fails if a reminder is missing or duplicated.
By default it is aiosmtpd's server (CountingHandler; no PIPELINING, ~0.5 ms of CPU per mail here, so on 2 cores
it takes one core from the client); `--sink lean` is thidua's own sink server (PIPELINING, ~0.12 ms per mail).

  (a) raw     aiosmtplib.sendmail of prebuilt bytes on C connections: the ceiling for client and sink;
  (a') floor  the same prebuilt bytes through thidua's transport (DeliveryStream: the connections of (c),
              PIPELINING where the server offers it), nothing else: what (c) costs without claiming,
              checking, rendering, building and recording. The floor is the faster of (a) and (a');
  (b) naive   per message: render, EmailMessage + send_message on one connection, UPDATE + COMMIT the
              ledger row — what a first implementation looks like (run on --naive-n rows);
  (c) ours    thidua.services.reminders: claim a batch (lease), re-check each row against the database,
              render (Jinja2), build_message, deliver() on C connections, record results in small
              transactions — the real dispatch path, planning timed separately.

(a), (a') and (c) alternate chunk by chunk against the same sink so that all see the same load from whatever
else runs on the machine. Targets: c >= 85% of the floor (issue 17), c >= 4x b.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import multiprocessing.connection
import resource
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Iterator

import aiosmtplib
from sqlalchemy import func, insert, select, update
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import sink_process  # noqa: E402
from thidua.models.clock import local_to_utc, utcnow  # noqa: E402
from thidua.models.outbox import OutboxMessage  # noqa: E402
from thidua.models.tables import Level, Unit  # noqa: E402
from thidua.notifications.message import message_id_for  # noqa: E402
from thidua.notifications.render import get_renderer  # noqa: E402
from thidua.notifications.transport import DeliveryStream, OutgoingMessage, SmtpSettings  # noqa: E402
from thidua.db import create_schema, make_engine  # noqa: E402
from thidua.services import reminders as service  # noqa: E402
from thidua.services.campaigns import load_campaign  # noqa: E402
from thidua.settings import Settings  # noqa: E402

NOW = local_to_utc(datetime(2023, 10, 3, 9, 0))
SENDER = "thidua@congdoan.vn"
LEVELS = [
    ("tong_ldld", "Tổng Liên đoàn Lao động Việt Nam"),
    ("ldld_tinh", "Liên đoàn Lao động tỉnh, thành phố"),
    ("cap_tren_truc_tiep", "Công đoàn cấp trên trực tiếp cơ sở"),
    ("cdcs", "Công đoàn cơ sở"),
]
CAMPAIGN = """
code: toan-quoc-2023
title: Phong trào thi đua trong CNVCLĐ và các cấp công đoàn năm 2023 (dữ liệu giả lập toàn quốc)
theme: Thi đua lao động giỏi, lao động sáng tạo
year: 2023
issuing_unit: TLD
owner: {department: Ban Chính sách pháp luật và Quan hệ lao động, email: ban.cspl@congdoan.vn}
plan_issued_on: 15/02/2023
starts: 15/02/2023
ends: 31/12/2023
rounds:
  - {number: 1, name: Đợt 1, starts: 15/02/2023, ends: 31/05/2023}
  - {number: 2, name: Đợt 2, starts: 31/05/2023, ends: 30/09/2023}
  - {number: 3, name: Đợt 3, starts: 30/09/2023, ends: 31/12/2023}
obligations:
  - {code: so-ket-dot-2, kind: round_report, round: 2, title: Báo cáo sơ kết đợt 2, levels: [cdcs],
     due: {round: 2, days_after_end: 10}}
reminder_ladders:
  - code: mac-dinh
    name: Thang nhắc mặc định
    send_time: "08:00"
    rungs:
      - {code: truoc-7-ngay, offset_days: -7}
      - {code: truoc-3-ngay, offset_days: -3}
      - {code: truoc-1-ngay, offset_days: -1}
      - {code: qua-han-1-ngay, offset_days: 1, escalate: true}
default_ladder: mac-dinh
"""


# --- data ------------------------------------------------------------------------------------------
def build_national_tree(engine, cdcs: int, provinces: int = 63, districts_per_province: int = 11) -> None:
    """Units inserted with Core executemany; ids and materialised paths computed here."""
    with Session(engine) as session, session.begin():
        session.execute(
            insert(Level), [{"code": c, "name": n, "short_name": n, "rank": r} for r, (c, n) in enumerate(LEVELS)]
        )
        rows = [
            {
                "id": 1,
                "code": "TLD",
                "name": LEVELS[0][1],
                "level_code": "tong_ldld",
                "parent_id": None,
                "path": "00000001.",
                "depth": 0,
                "emails": ["tld@congdoan.vn"],
                "active": True,
            }
        ]
        next_id = 2
        districts: list[tuple[int, str]] = []
        for p in range(1, provinces + 1):
            pid, ppath = next_id, f"00000001.{next_id:08d}."
            rows.append(
                {
                    "id": pid,
                    "code": f"T{p:02d}",
                    "name": f"Liên đoàn Lao động tỉnh số {p}",
                    "level_code": "ldld_tinh",
                    "parent_id": 1,
                    "path": ppath,
                    "depth": 1,
                    "emails": [f"t{p:02d}@congdoan.vn"],
                    "active": True,
                }
            )
            next_id += 1
            for d in range(1, districts_per_province + 1):
                path = f"{ppath}{next_id:08d}."
                rows.append(
                    {
                        "id": next_id,
                        "code": f"T{p:02d}.H{d:02d}",
                        "name": f"LĐLĐ huyện {d} tỉnh số {p}",
                        "level_code": "cap_tren_truc_tiep",
                        "parent_id": pid,
                        "path": path,
                        "depth": 2,
                        "emails": [f"t{p:02d}-h{d:02d}@congdoan.vn"],
                        "active": True,
                    }
                )
                districts.append((next_id, path))
                next_id += 1
        for i in range(cdcs):
            parent_id, parent_path = districts[i % len(districts)]
            rows.append(
                {
                    "id": next_id,
                    "code": f"CS{i:06d}",
                    "name": f"Công đoàn cơ sở Trường THCS Nguyễn Trãi số {i}",
                    "level_code": "cdcs",
                    "parent_id": parent_id,
                    "path": f"{parent_path}{next_id:08d}.",
                    "depth": 3,
                    "emails": [f"cdcs{i}@donvi.congdoan.vn"],
                    "active": True,
                    "sector": "hcsn" if i % 2 else "sxkd",
                }
            )
            next_id += 1
        now = utcnow()
        for row in rows:
            row.setdefault("sector", None)
            row["updated_at"] = now
        for start in range(0, len(rows), 20_000):
            session.execute(insert(Unit), rows[start : start + 20_000])


# --- the sink, in its own process ----------------------------------------------------------------------
def sink_counts(conn: multiprocessing.connection.Connection, reset: bool = False) -> dict[str, int]:
    conn.send("reset" if reset else "count")
    return conn.recv()


# --- timing ----------------------------------------------------------------------------------------------
class Clock:
    def __init__(self, label: str) -> None:
        self.label, self.count, self.wall_s, self.cpu_s = label, 0, 0.0, 0.0

    @contextmanager
    def timing(self, count: int = 0) -> Iterator["Clock"]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield self
        self.wall_s += time.perf_counter() - wall
        self.cpu_s += time.process_time() - cpu
        self.count += count

    @property
    def rate(self) -> float:
        return self.count / self.wall_s if self.wall_s else 0.0

    def report(self) -> str:
        per = self.cpu_s / self.count * 1e6 if self.count else 0.0
        return f"{self.label:<52} {self.count:>7} msgs {self.wall_s:7.1f} s {self.rate:7.0f} msg/s   client CPU {per:5.0f} µs/msg"


# --- (a) raw ------------------------------------------------------------------------------------------------
async def raw_send(port: int, messages: list[tuple[str, list[str], bytes]], connections: int) -> None:
    async def one_connection(share: list[tuple[str, list[str], bytes]]) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench.local", start_tls=False)
        await smtp.connect()
        for sender, recipients, raw in share:
            await smtp.sendmail(sender, recipients, raw)
        await smtp.quit()

    await asyncio.gather(*(one_connection(messages[i::connections]) for i in range(connections)))


# --- (a') floor -----------------------------------------------------------------------------------------------
async def transport_send(smtp: SmtpSettings, messages: list[tuple[str, list[str], bytes]]) -> None:
    """The prebuilt bytes through thidua's transport on smtp.connections connections; every one must be sent."""
    stream = DeliveryStream(smtp)
    await stream.start()
    stream.add(
        [OutgoingMessage(key=f"floor-{i}", sender=s, recipients=r, raw=raw) for i, (s, r, raw) in enumerate(messages)]
    )
    results = await stream.close()
    if len(results) != len(messages) or any(result.status != "sent" for result in results):
        raise SystemExit("the transport floor lost mail")


# --- (b) naive -------------------------------------------------------------------------------------------
async def naive_send(engine, settings: Settings, port: int, ids: list[int]) -> None:
    """One row at a time: load it, render, EmailMessage, send, UPDATE + COMMIT."""
    renderer = get_renderer()
    O = OutboxMessage.__table__  # type: ignore[attr-defined]
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench.local", start_tls=False)
    await smtp.connect()
    with Session(engine) as session:
        campaign = next(iter(service.campaign_infos(session, [1]).values()))
        for row_id in ids:
            row = session.execute(
                select(O.c.key, O.c.recipient, O.c.assignment_id, Unit.name, service.A.c.due_on, service.OB.c.title)
                .select_from(
                    O.join(Unit, Unit.id == O.c.unit_id)
                    .join(service.A, service.A.c.id == O.c.assignment_id)
                    .join(service.OB, service.OB.c.id == service.A.c.obligation_id)
                )
                .where(O.c.id == row_id)
            ).one()
            context = service.reminder_context(
                campaign,
                unit_name=row.name,
                obligation_title=row.title,
                due_on=row.due_on,
                today=NOW.date(),
                assignment_id=row.assignment_id,
                base_url=settings.base_url,
                returned=False,
            )
            mail = renderer.render("reminder_upcoming", context)
            message = EmailMessage()
            message["From"] = f"{settings.smtp_sender_name} <{SENDER}>"
            message["To"] = f"{row.name} <{row.recipient}>"
            message["Reply-To"] = campaign.owner_email
            message["Subject"] = mail.subject
            message["Date"] = format_datetime(NOW)
            message["Message-ID"] = message_id_for("naive/" + row.key, settings.mail_domain)
            message.set_content(mail.text)
            message.add_alternative(mail.html, subtype="html")
            await smtp.send_message(message)
            session.execute(update(O).where(O.c.id == row_id).values(status="sent", sent_at=NOW))
            session.commit()
    await smtp.quit()


# --- main ------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=130_000, help="due reminders (one per CĐCS)")
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections for (a) and (c)")
    parser.add_argument(
        "--batch", type=int, default=500, help="ledger batch size of (c) (Settings.dispatch_batch_size)"
    )
    parser.add_argument("--chunk", type=int, default=5_000, help="messages per alternation of (a) and (c)")
    parser.add_argument("--naive-n", type=int, default=3_000, help="rows for (b) (a few ms each)")
    parser.add_argument("--db-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument(
        "--sink", choices=("aiosmtpd", "lean"), default="aiosmtpd", help="the SMTP server of the sink process"
    )
    parser.add_argument(
        "--unpipelined", action="store_true", help="(c) sends batch after batch (dispatch_batch), as before issue 17"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    settings = Settings(data_dir=workdir, database_url=args.db_url, dispatch_batch_size=args.batch)
    engine = make_engine(settings.db_url)
    create_schema(engine)
    print(
        f"database: {engine.url.render_as_string(hide_password=True)}; {args.n} CĐCS; {args.connections} connections; "
        f"sink: {args.sink}"
    )

    with Clock("units").timing() as units_clock:
        build_national_tree(engine, args.n)
    campaign_file = workdir / "config" / "campaigns" / "toan-quoc.yaml"
    campaign_file.parent.mkdir(parents=True)
    campaign_file.write_text(CAMPAIGN, encoding="utf-8")
    with Clock("campaign").timing() as load_clock:
        load_campaign(engine, campaign_file)
    # Prebuilt bytes for (a): real reminders of this campaign, built before anything is queued or timed.
    builder = SmtpSettings(host="127.0.0.1", sender=SENDER, sender_name=settings.smtp_sender_name)
    sample = service.render_preview(engine, settings, "toan-quoc-2023", now=NOW, days=1, limit=1000, smtp=builder)
    prebuilt = [
        (SENDER, [f"raw{i}@donvi.congdoan.vn"], raw_bytes.replace(b"Message-ID: <thidua.", b"Message-ID: <raw.", 1))
        for i, (_, raw_bytes) in enumerate(sample)
    ]
    with Clock("plan").timing() as plan_clock:
        plan = service.plan_due(engine, now=NOW)
    with Clock("replan").timing() as replan_clock:
        again = service.plan_due(engine, now=NOW)
    print(
        f"setup: units {units_clock.wall_s:.1f} s, campaign load {load_clock.wall_s:.1f} s; "
        f"planning {plan.reminders} reminders + {plan.office_digests} office digest: {plan_clock.wall_s:.2f} s "
        f"(a later tick that finds nothing new: {replan_clock.wall_s:.2f} s, {again.reminders} new)"
    )
    total = plan.reminders + plan.office_digests

    owner = service.new_dispatcher_id()
    raw = Clock(f"(a) raw aiosmtplib, prebuilt bytes, {args.connections} conn")
    floor = Clock(f"(a') thidua transport, prebuilt bytes, {args.connections} conn")
    ours = Clock(f"(c) ours: claim+check+render+build+deliver+record, {args.connections} conn")
    with sink_process(args.sink) as (port, conn):
        smtp = SmtpSettings(
            host="127.0.0.1",
            port=port,
            sender=SENDER,
            sender_name=settings.smtp_sender_name,
            connections=args.connections,
            batch_size=1000,
            local_hostname="bench.local",
        )
        sent_by_ours = 0
        while sent_by_ours < total:
            chunk = [prebuilt[i % len(prebuilt)] for i in range(args.chunk)]
            with raw.timing(len(chunk)):
                asyncio.run(raw_send(port, chunk, args.connections))
            with floor.timing(len(chunk)):
                asyncio.run(transport_send(smtp, chunk))

            async def our_chunk() -> service.BatchResult:
                batches = max(1, args.chunk // args.batch)
                if args.unpipelined:  # the path before issue 17: claim, prepare, send, record, one batch after another

                    async def one() -> service.BatchResult | None:
                        return await service.dispatch_batch(engine, settings, owner=owner, now=NOW, smtp=smtp)

                    return (await service.dispatch_loop(one, lambda c: 0, max_batches=batches))[1]
                return (
                    await service.dispatch_pass(engine, settings, owner=owner, now=NOW, smtp=smtp, max_batches=batches)
                )[1]

            with ours.timing() as clock:
                result = asyncio.run(our_chunk())
            clock.count += result.sent
            sent_by_ours += result.sent
            if result.claimed == 0 or result.failed or result.unknown:
                raise SystemExit(f"dispatch stopped: {result}")
        counts = sink_counts(conn)
        expected = raw.count + floor.count + ours.count
        raw_distinct = min(len(prebuilt), args.chunk)  # (a) and (a') send the same prebuilt messages each chunk
        print(
            f"    sink: {counts['messages']} received (expected {expected}); (c) delivered "
            f"{counts['distinct'] - raw_distinct} distinct Message-IDs, each once"
        )
        with Session(engine) as session:
            ledger = dict(
                session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
            )
        if (
            counts["messages"] != expected
            or counts["distinct"] != raw_distinct + ours.count
            or ledger != {"sent": total}
        ):
            raise SystemExit(f"the sink or the ledger disagrees: {counts}, ledger {ledger}")

        naive = Clock("(b) naive: render+EmailMessage+send+commit per row, 1 conn")
        with Session(engine) as session:
            naive_ids = (
                session.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.kind == "reminder")
                    .order_by(OutboxMessage.id)
                    .limit(args.naive_n)
                )
                .scalars()
                .all()
            )
        sink_counts(conn, reset=True)
        with naive.timing(len(naive_ids)):
            asyncio.run(naive_send(engine, settings, port, naive_ids))
        if sink_counts(conn)["messages"] != len(naive_ids):
            raise SystemExit("the naive pipeline lost mail")

    print(raw.report())
    print(floor.report())
    print(ours.report())
    print(naive.report())
    best = max(raw.rate, floor.rate)
    print(f"\nc/a = {ours.rate / raw.rate:.0%}, c/a' = {ours.rate / floor.rate:.0%}")
    print(f"c/floor = {ours.rate / best:.0%}  (floor: the faster of a and a'; target >= 85%)")
    print(f"c/b = {ours.rate / naive.rate:.1f}x  (target >= 4x)")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    print(
        json.dumps(
            {
                "n": args.n,
                "sink": args.sink,
                "raw_msg_s": round(raw.rate),
                "floor_msg_s": round(floor.rate),
                "ours_msg_s": round(ours.rate),
                "naive_msg_s": round(naive.rate),
                "plan_s": round(plan_clock.wall_s, 2),
                "replan_s": round(replan_clock.wall_s, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
