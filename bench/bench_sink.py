"""CPU per message of the demo's SMTP sink process and of our client, issue 17 (h17s).

    python bench/bench_sink.py [--n 5000] [--runs 3] [--connections 4]

Each run starts a fresh ``SinkProcess`` (``python -m thidua.notifications.sink``, storing .eml files in a
temporary directory), sends ``--n`` prebuilt messages (3 recipients each, like the demo's ~6.1 SMTP commands
per message) and reads the sink's user+sys CPU from /proc/<pid>/stat just before and after the sending (so
its start-up is not counted); the client's is getrusage(RUSAGE_SELF) around the sending. Configurations:

  aiosmtpd + one by one   the sink and client before issue 17 (aiosmtpd advertises no PIPELINING)
  lean + one by one       the lean sink, the client's pipelining switched off
  lean + pipelined        the lean sink and deliver() with PIPELINING (today's demo)
  floor: raw pipelined    the lean sink fed prebuilt bytes by a bare asyncio client (envelope in one write,
                          payload after the 354): what the sink costs with no client overhead at all

Runs of the configurations are interleaved; medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import aiosmtplib

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]
from bench_smtp import DOMAIN, FROM, REPLY_TO, SENDER, notification  # noqa: E402

from thidua.notifications.message import build_message, message_id_for  # noqa: E402
from thidua.notifications.sink import SinkProcess  # noqa: E402
from thidua.notifications.transport import OutgoingMessage, SmtpSettings, _data_payload, deliver  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def messages(n: int, run: int) -> list[OutgoingMessage]:
    result = []
    for i in range(n):
        note = notification(i, f"r{run}")
        recipients = [note.address, f"chutich{i}@donvi.binhdinh.vn", f"vanphong{i % 97}@ldld.binhdinh.vn"]
        raw = build_message(
            sender=FROM,
            to=[f"{note.unit} <{note.address}>", *recipients[1:]],
            subject=note.subject,
            text=note.text,
            html=note.html,
            message_id=message_id_for(note.key, DOMAIN),
            reply_to=REPLY_TO,
        )
        result.append(OutgoingMessage(key=note.key, sender=SENDER, recipients=recipients, raw=raw))
    return result


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (fields 14 and 15)


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def pipelining(enabled: bool) -> Iterator[None]:
    original = aiosmtplib.SMTP.supports_extension

    def supports(self: aiosmtplib.SMTP, extension: str, /) -> bool:
        return original(self, extension) and (enabled or extension.lower() != "pipelining")

    aiosmtplib.SMTP.supports_extension = supports  # type: ignore[method-assign]
    try:
        yield
    finally:
        aiosmtplib.SMTP.supports_extension = original  # type: ignore[method-assign]


async def with_deliver(port: int, batch: list[OutgoingMessage], connections: int) -> None:
    settings = SmtpSettings(
        host="127.0.0.1", port=port, sender=SENDER, connections=connections, batch_size=1000, local_hostname="bench"
    )
    results = await deliver(batch, settings)
    bad = [r for r in results if r.status != "sent"]
    if bad:
        raise SystemExit(f"{len(bad)} not sent: {bad[0]}")


async def raw_pipelined(port: int, batch: list[OutgoingMessage], connections: int) -> None:
    async def expect(reader: asyncio.StreamReader, code: bytes) -> None:
        while True:
            line = await reader.readuntil(b"\r\n")
            if line[3:4] != b"-":
                break
        if not line.startswith(code):
            raise SystemExit(f"unexpected reply {line!r}")

    async def one(share: list[OutgoingMessage]) -> None:
        wire = [
            (
                b"".join(
                    [f"MAIL FROM:<{m.sender}> SIZE={len(m.raw)}\r\n".encode()]
                    + [f"RCPT TO:<{r}>\r\n".encode() for r in m.recipients]
                    + [b"DATA\r\n"]
                ),
                len(m.recipients),
                _data_payload(m.raw),
            )
            for m in share
        ]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await expect(reader, b"220")
        writer.write(b"EHLO bench\r\n")
        await expect(reader, b"250")
        for envelope, recipients, payload in wire:
            writer.write(envelope)
            for _ in range(recipients + 1):
                await expect(reader, b"250")
            await expect(reader, b"354")
            writer.write(payload)
            await expect(reader, b"250")
        writer.write(b"QUIT\r\n")
        await expect(reader, b"221")
        writer.close()

    await asyncio.gather(*(one(batch[i::connections]) for i in range(connections)))


def measure(
    server: str, send: Callable[..., object], batch: list[OutgoingMessage], connections: int, base: str | None
) -> tuple[float, float, float]:
    """(sink CPU s, client CPU s, wall s) for sending ``batch``."""
    with tempfile.TemporaryDirectory(prefix="bench-sink-", dir=base) as directory:
        sink = SinkProcess(directory, server=server)  # type: ignore[arg-type]
        try:
            time.sleep(0.2)
            sink_before, client_before, wall = proc_cpu_s(sink.process.pid), self_cpu_s(), time.perf_counter()
            asyncio.run(send(sink.port, batch, connections))  # type: ignore[arg-type]
            wall = time.perf_counter() - wall
            client = self_cpu_s() - client_before
            time.sleep(0.1)  # let the sink finish its last writes and QUITs
            sink_cpu = proc_cpu_s(sink.process.pid) - sink_before
        finally:
            sink.stop()
        stored = sum(1 for _ in Path(directory).glob("*.eml"))
        if stored != len(batch):
            raise SystemExit(f"{stored} .eml files for {len(batch)} messages")
    return sink_cpu, client, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--dir", help="where the sink's temporary .eml directories go (default: the system's tmp)")
    args = parser.parse_args()

    def one_by_one(port: int, batch: list[OutgoingMessage], connections: int) -> object:
        async def go() -> None:
            with pipelining(False):
                await with_deliver(port, batch, connections)

        return go()

    configs: list[tuple[str, str, Callable[..., object]]] = [
        ("aiosmtpd + one by one (before)", "aiosmtpd", one_by_one),
        ("lean + one by one", "lean", one_by_one),
        ("lean + pipelined (after)", "lean", with_deliver),
        ("floor: lean + raw pipelined bytes", "lean", raw_pipelined),
    ]
    samples: dict[str, list[tuple[float, float, float]]] = {label: [] for label, _, _ in configs}
    for run in range(args.runs):
        batch = messages(args.n, run)
        for label, server, send in configs:
            samples[label].append(measure(server, send, batch, args.connections, args.dir))
            sink, client, wall = samples[label][-1]
            print(
                f"run {run + 1} {label:<36} sink {sink:6.2f} s  client {client:6.2f} s  wall {wall:6.2f} s", flush=True
            )
    size = sum(len(m.raw) for m in messages(50, 99)) // 50
    print(
        f"\n{args.n} messages (~{size} bytes, 3 recipients each), {args.connections} connections, medians of {args.runs}:"
    )
    print(f"{'configuration':<36} {'sink µs/msg':>12} {'client µs/msg':>14} {'wall s':>8}")
    for label, _, _ in configs:
        sink, client, wall = (statistics.median(column) for column in zip(*samples[label]))
        print(f"{label:<36} {sink / args.n * 1e6:12.0f} {client / args.n * 1e6:14.0f} {wall:8.2f}")


if __name__ == "__main__":
    main()
