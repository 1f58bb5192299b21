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
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send(
            {
                "messages": handler.messages,
                "distinct": len(handler.message_ids or {}),
                "duplicated": len(handler.duplicates()),
                "cpu_s": usage.ru_utime + usage.ru_stime,
            }
        )
    sink.stop()


@contextmanager
def sink_process() -> Iterator[tuple[int, multiprocessing.connection.Connection]]:
    """A counting SMTP sink in its own process (on 2 cores a sink sharing the client's loop would dominate).
    Send it "count" or "reset" for its figures (messages, distinct and duplicated Message-IDs, its CPU time)."""
    port = free_port()
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_serve_counting_sink, args=(port, child), daemon=True)
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
