"""SMTP throughput: raw aiosmtplib vs naive EmailMessage pipeline vs ours.

    python bench/bench_smtp.py [--n 130000] [--connections 8] [--naive-n N]

The sink is a CountingHandler (aiosmtpd) in its own process: on this 2-core
machine a sink sharing the client's event loop would dominate the measurement.
It counts Message-IDs; the run fails if any message is missing or duplicated.

  (a) raw      aiosmtplib.sendmail of prebuilt bytes on C connections
               (building is done before the clock starts): the ceiling;
  (b) naive    EmailMessage built per message, flattened by send_message,
               one connection: what a first implementation looks like;
  (c) ours     build_message per message + deliver() on C connections,
               one deliver() call per chunk, as the reminder flow does.

(a) and (c) alternate chunk by chunk against the same sink so that both see
the same load from whatever else runs on the machine. Every message has its
own recipient, subject and body (Vietnamese unit names with diacritics).
Targets: c >= 50% of a, c >= 4x b.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import multiprocessing.connection
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from thidua.notifications.message import build_message, message_id_for
from thidua.notifications.sink import CountingHandler, free_port, start_sink
from thidua.notifications.transport import OutgoingMessage, SmtpSettings, deliver

SENDER = "thidua@ldld.binhdinh.vn"
FROM = f'"Liên đoàn Lao động tỉnh Bình Định" <{SENDER}>'
REPLY_TO = "Ban Tuyên giáo LĐLĐ tỉnh <tuyengiao@ldld.binhdinh.vn>"
SUBJECT = "Còn 3 ngày: báo cáo sơ kết đợt 2 hạn 10/10/2023"
UNITS = [
    "Công đoàn cơ sở Trường THPT Nguyễn Du",
    "Công đoàn cơ sở Bệnh viện Đa khoa tỉnh",
    "Công đoàn Ngành Giáo dục huyện Tuy Phước",
    "Công đoàn cơ sở Công ty Cổ phần Cảng Quy Nhơn",
    "Công đoàn cơ sở Trường Tiểu học số 2 Nhơn Bình",
    "Công đoàn cơ sở UBND phường Ghềnh Ráng",
    "Công đoàn Khu kinh tế tỉnh Bình Định",
    "Công đoàn cơ sở Trường Mầm non Hoa Hồng",
]
DOMAIN = "thidua.binhdinh.vn"


@dataclass(frozen=True)
class Notification:
    key: str
    unit: str
    address: str
    subject: str
    text: str
    html: str


def notification(i: int, phase: str) -> Notification:
    """The i-th reminder; ``phase`` keeps Message-IDs distinct between phases."""
    unit = f"{UNITS[i % len(UNITS)]} (đơn vị {i})"
    text = (
        f"Kính gửi {unit},\n\n"
        "Theo kế hoạch phong trào thi đua năm 2023, đơn vị cần nộp báo cáo sơ kết "
        "đợt 2 chậm nhất ngày 10/10/2023 (còn 3 ngày).\n"
        f"Nộp báo cáo tại: https://{DOMAIN}/bao-cao/{i}\n\n"
        "Trân trọng,\nBan Tuyên giáo Liên đoàn Lao động tỉnh Bình Định\n"
    )
    html = (
        f"<p>Kính gửi <b>{unit}</b>,</p><p>Theo kế hoạch phong trào thi đua năm 2023, "
        "đơn vị cần nộp báo cáo sơ kết đợt 2 chậm nhất ngày <b>10/10/2023</b> (còn 3 ngày).</p>"
        f'<p><a href="https://{DOMAIN}/bao-cao/{i}">Nộp báo cáo</a></p>'
        "<p>Trân trọng,<br>Ban Tuyên giáo Liên đoàn Lao động tỉnh Bình Định</p>"
    )
    return Notification(
        key=f"{phase}/campaign-2023/report-2/unit-{i}/reminder-3",
        unit=unit,
        address=f"cdcs{i}@donvi.binhdinh.edu.vn",
        subject=f"{SUBJECT} – đơn vị {i}",
        text=text,
        html=html,
    )


def build_ours(n: Notification) -> OutgoingMessage:
    raw = build_message(
        sender=FROM,
        to=[f"{n.unit} <{n.address}>"],
        subject=n.subject,
        text=n.text,
        html=n.html,
        message_id=message_id_for(n.key, DOMAIN),
        reply_to=REPLY_TO,
    )
    return OutgoingMessage(key=n.key, sender=SENDER, recipients=[n.address], raw=raw)


def build_naive(n: Notification) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = FROM
    msg["To"] = f"{n.unit} <{n.address}>"
    msg["Reply-To"] = REPLY_TO
    msg["Subject"] = n.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id_for(n.key, DOMAIN)
    msg.set_content(n.text)
    msg.add_alternative(n.html, subtype="html")
    return msg


# --- the sink, in its own process ------------------------------------------


def _serve(port: int, conn: multiprocessing.connection.Connection) -> None:
    handler = CountingHandler(keep_message_ids=True)
    sink = start_sink(handler, port=port)
    conn.send("ready")
    conn.recv()  # any message means: report and stop
    ids = handler.message_ids or {}
    conn.send((handler.messages, len(ids), len(handler.duplicates())))
    sink.stop()


@dataclass
class SinkCounts:
    messages: int = 0
    distinct_ids: int = 0
    duplicated_ids: int = 0


@contextmanager
def sink_process() -> Iterator[tuple[int, SinkCounts]]:
    """A CountingHandler sink in a child process; counts filled in on exit."""
    port = free_port()
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, child), daemon=True)
    process.start()
    if not parent.poll(30) or parent.recv() != "ready":
        raise RuntimeError("sink process did not start")
    counts = SinkCounts()
    try:
        yield port, counts
    finally:
        parent.send("stop")
        counts.messages, counts.distinct_ids, counts.duplicated_ids = parent.recv()
        process.join(10)


# --- the three pipelines -----------------------------------------------------


async def raw_aiosmtplib(port: int, messages: list[OutgoingMessage], connections: int) -> None:
    async def one_connection(share: list[OutgoingMessage]) -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench.local", start_tls=False)
        await smtp.connect()
        for m in share:
            await smtp.sendmail(m.sender, m.recipients, m.raw)
        await smtp.quit()

    await asyncio.gather(*(one_connection(messages[i::connections]) for i in range(connections)))


async def naive(port: int, count: int) -> None:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench.local", start_tls=False)
    await smtp.connect()
    for i in range(count):
        await smtp.send_message(build_naive(notification(i, "b")))
    await smtp.quit()


async def build_and_deliver(ids: range, settings: SmtpSettings) -> None:
    results = await deliver([build_ours(notification(i, "c")) for i in ids], settings)
    failed = [r for r in results if r.status != "sent"]
    if failed:
        raise RuntimeError(f"{len(failed)} not sent, first: {failed[0]}")


class Clock:
    """Wall-clock and client CPU time accumulated by one phase."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0
        self.wall_s = 0.0
        self.cpu_s = 0.0

    @contextmanager
    def timing(self, count: int) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.wall_s += time.perf_counter() - wall
        self.cpu_s += time.process_time() - cpu
        self.count += count

    @property
    def rate(self) -> float:
        return self.count / self.wall_s

    def report(self) -> str:
        return (
            f"{self.label:<44} {self.count:>7} msgs {self.wall_s:7.1f} s {self.rate:7.0f} msg/s"
            f"   client CPU {self.cpu_s / self.count * 1e6:6.0f} µs/msg"
        )


def check(counts: SinkCounts, expected: int) -> None:
    print(
        f"    sink: {counts.messages} received, {counts.distinct_ids} distinct Message-IDs,"
        f" {counts.duplicated_ids} duplicated"
    )
    if counts.messages != expected or counts.distinct_ids != expected:
        raise SystemExit("the sink did not receive each message exactly once")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=130_000, help="messages for (a) and for (c)")
    parser.add_argument("--connections", type=int, default=8, help="parallel SMTP connections for (a) and (c)")
    parser.add_argument("--chunk", type=int, default=5_000, help="messages per deliver() call in (c)")
    parser.add_argument("--naive-n", type=int, help="messages for (b), default --n (~50 msg/s: 130000 take ~45 min)")
    args = parser.parse_args()
    n, c, chunk = args.n, args.connections, args.chunk
    naive_n = args.naive_n or n
    print(f"~{len(build_ours(notification(0, 'a')).raw)} bytes per message, {c} connections for (a) and (c)\n")

    # (a) and (c) alternate chunk by chunk against one sink, so both see the
    # same machine load (other jobs share these 2 cores).
    raw, ours = Clock(f"(a) raw aiosmtplib, prebuilt bytes, {c} conn"), Clock(f"(c) build_message + deliver, {c} conn")
    with sink_process() as (port, counts):
        settings = SmtpSettings(
            host="127.0.0.1",
            port=port,
            sender=SENDER,
            connections=c,
            batch_size=1000,
            local_hostname="bench.local",
        )
        for start in range(0, n, chunk):
            ids = range(start, min(n, start + chunk))
            prebuilt = [build_ours(notification(i, "a")) for i in ids]
            with raw.timing(len(ids)):
                asyncio.run(raw_aiosmtplib(port, prebuilt, c))
            with ours.timing(len(ids)):
                asyncio.run(build_and_deliver(ids, settings))
    print(raw.report())
    print(ours.report())
    check(counts, 2 * n)

    naive_clock = Clock("(b) naive EmailMessage, 1 conn")
    with sink_process() as (port, counts):
        with naive_clock.timing(naive_n):
            asyncio.run(naive(port, naive_n))
    print(naive_clock.report())
    check(counts, naive_n)

    print(f"\nc/a = {ours.rate / raw.rate:.0%}  (target >= 50%)")
    print(f"c/b = {ours.rate / naive_clock.rate:.1f}x  (target >= 4x)")


if __name__ == "__main__":
    main()
