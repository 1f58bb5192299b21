"""Helpers shared by the benchmarks: run a measured step in its own process, and read its peak memory."""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.connection
import resource
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from pathlib import Path

from sqlalchemy import create_engine, text

from thidua.notifications.sink import CountingHandler, free_port, start_sink

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(target: Callable[..., Any], *args: Any) -> Any:
    """Run one measured step in a fresh (forked) process so its peak memory is its own."""
    queue: mp.Queue = mp.Queue()
    proc = mp.get_context("fork").Process(target=lambda: queue.put(target(*args)))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def _serve_counting_sink(port: int, conn: multiprocessing.connection.Connection) -> None:
    handler = CountingHandler(keep_message_ids=True)
    sink = start_sink(handler, port=port)
    conn.send("ready")
    while (command := conn.recv()) != "stop":
        if command == "reset":
            handler.messages, handler.message_ids = 0, type(handler.message_ids)()
        conn.send(_sink_figures(handler.messages, handler.message_ids or {}, len(handler.duplicates())))
    sink.stop()


def _serve_lean_counting_sink(port: int, conn: multiprocessing.connection.Connection) -> None:
    """The product's own sink server (thidua.notifications.lean_smtp: offers PIPELINING, ~4x less CPU per mail
    than aiosmtpd), counting Message-IDs instead of storing files."""
    import asyncio
    from collections import Counter

    from thidua.notifications.lean_smtp import LeanSmtpServer, message_id_of

    seen: Counter[str | None] = Counter()
    received = [0]

    def deliver(mail_from: str, rcpt_tos: list[str], content: bytes) -> str:
        received[0] += 1
        seen[message_id_of(content)] += 1
        return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await LeanSmtpServer(deliver).start("127.0.0.1", port)
        conn.send("ready")
        while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
            if command == "reset":
                seen.clear()
                received[0] = 0
            conn.send(_sink_figures(received[0], seen, sum(1 for n in seen.values() if n > 1)))
        server.close()

    asyncio.run(serve())


def _sink_figures(messages: int, message_ids: Any, duplicated: int) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "messages": messages,
        "distinct": len(message_ids),
        "duplicated": duplicated,
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }


@contextmanager
def sink_process(kind: str = "aiosmtpd") -> Iterator[tuple[int, multiprocessing.connection.Connection]]:
    """A counting SMTP sink in its own process (on 2 cores a sink sharing the client's loop would dominate):
    aiosmtpd's server, or with kind="lean" thidua's own (PIPELINING). Send it "count" or "reset" for its
    figures (messages, distinct and duplicated Message-IDs, its CPU time)."""
    port = free_port()
    parent, child = mp.Pipe()
    serve = {"aiosmtpd": _serve_counting_sink, "lean": _serve_lean_counting_sink}[kind]
    process = mp.get_context("spawn").Process(target=serve, args=(port, child), daemon=True)
    process.start()
    if not parent.poll(120) or parent.recv() != "ready":
        raise RuntimeError("the sink process did not start")
    try:
        yield port, parent
    finally:
        parent.send("stop")
        process.join(10)


def bench_database(pg: bool, workdir: Path, schema: str) -> str:
    """URL of an empty database for a benchmark: a SQLite file in workdir, or a fresh PostgreSQL schema."""
    if not pg:
        return f"sqlite:///{workdir / 'bench.db'}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return PG_URL + f"?options=-csearch_path%3D{schema}"
