"""SMTP throughput: raw aiosmtplib vs naive EmailMessage pipeline vs ours.

    python bench/bench_smtp.py [--n 130000] [--connections 8]

Each phase sends N messages to a fresh CountingHandler sink that runs in its
own process (on this 2-core machine the sink would otherwise share the
client's event loop and dominate the measurement):

  (a) raw      aiosmtplib.sendmail of prebuilt bytes on C connections
               (building is done before the clock starts): the ceiling;
  (b) naive    EmailMessage built per message, flattened by send_message,
               one connection: what a first implementation looks like;
  (c) ours     build_message per message + deliver() on C connections,
               in ledger-sized chunks, as the reminder flow does.

Every message has its own recipient, subject and body (Vietnamese unit names
with diacritics). Targets: c >= 50% of a, c >= 4x b.
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

from notifications.message import build_message, message_id_for
from notifications.sink import CountingHandler, free_port, start_sink
from notifications.transport import OutgoingMessage, SmtpSettings, deliver

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


def notification(i: int) -> Notification:
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
        key=f"campaign-2023/report-2/unit-{i}/reminder-3",
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
        await smtp.send_message(build_naive(notification(i)))
    await smtp.quit()


async def ours(port: int, count: int, connections: int, chunk: int) -> None:
    settings = SmtpSettings(
        host="127.0.0.1", port=port, sender=SENDER, connections=connections,
        batch_size=1000, local_hostname="bench.local",
    )
    for start in range(0, count, chunk):
        batch = [build_ours(notification(i)) for i in range(start, min(count, start + chunk))]
        results = await deliver(batch, settings)
        failed = [r for r in results if r.status != "sent"]
        if failed:
            raise RuntimeError(f"{len(failed)} not sent, first: {failed[0]}")


def measure(label: str, count: int, run_phase) -> float:  # type: ignore[no-untyped-def]
    with sink_process() as (port, counts):
        start = time.perf_counter()
        asyncio.run(run_phase(port))
        elapsed = time.perf_counter() - start
    rate = count / elapsed
    print(
        f"{label:<44} {count:>7} msgs {elapsed:8.1f} s {rate:8.0f} msg/s"
        f"   sink: {counts.messages} received, {counts.distinct_ids} distinct ids,"
        f" {counts.duplicated_ids} duplicated"
    )
    if counts.messages != count or counts.distinct_ids != count:
        raise SystemExit(f"{label}: the sink did not receive each message exactly once")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=130_000, help="messages per phase")
    parser.add_argument("--connections", type=int, default=8, help="parallel SMTP connections for (a) and (c)")
    parser.add_argument("--chunk", type=int, default=5_000, help="messages per deliver() call in (c)")
    parser.add_argument(
        "--naive-n", type=int, help="messages for (b), default --n (it runs at ~50-60 msg/s: 130000 take ~40 min)"
    )
    args = parser.parse_args()
    n, c = args.n, args.connections
    naive_n = args.naive_n or n

    sample = build_ours(notification(0)).raw
    print(f"{n} messages per phase, {c} connections, ~{len(sample)} bytes per message\n")

    prebuilt = [build_ours(notification(i)) for i in range(n)]
    rate_a = measure(f"(a) raw aiosmtplib, prebuilt bytes, {c} conn", n, lambda port: raw_aiosmtplib(port, prebuilt, c))
    del prebuilt
    # (c) right after (a), so that both see the same machine load; (b) takes longest.
    rate_c = measure(f"(c) build_message + deliver, {c} conn", n, lambda port: ours(port, n, c, args.chunk))
    rate_b = measure("(b) naive EmailMessage, 1 conn", naive_n, lambda port: naive(port, naive_n))

    print(f"\nc/a = {rate_c / rate_a:.0%}  (target >= 50%)")
    print(f"c/b = {rate_c / rate_b:.1f}x  (target >= 4x)")


if __name__ == "__main__":
    main()
