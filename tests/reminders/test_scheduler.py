"""The embedded clock: one dispatcher per database through a lease; APScheduler ticks; `thidua serve` / `sink`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlmodel import Session

from thidua.models.clock import utcnow
from thidua.models.tables import Lease
from thidua.notifications.sink import FaultInjectingHandler, free_port
from tests.reminders.conftest import smtp_for, vn
from thidua.scheduler import DISPATCHER_LEASE, DispatchClock, acquire_lease, release_lease
from thidua.settings import REPO_ROOT


def test_lease_is_held_by_one_process_at_a_time(engine) -> None:
    ttl = timedelta(minutes=1)
    assert acquire_lease(engine, "dispatcher", "a", ttl)
    assert not acquire_lease(engine, "dispatcher", "b", ttl)
    assert acquire_lease(engine, "dispatcher", "a", ttl)  # renewal
    # Once it expires (holder died), another takes it.
    assert acquire_lease(engine, "dispatcher", "b", ttl, now=utcnow() + timedelta(minutes=2))
    assert not acquire_lease(engine, "dispatcher", "a", ttl, now=utcnow() + timedelta(minutes=2, seconds=1))
    release_lease(engine, "dispatcher", "b")
    assert acquire_lease(engine, "dispatcher", "a", ttl)


def test_two_clocks_on_one_database_dispatch_once(campaign, settings, sinks) -> None:
    sink = sinks(FaultInjectingHandler())
    smtp = smtp_for(sink.host, sink.port)
    first, second = (
        DispatchClock(campaign.engine, settings, smtp=smtp),
        DispatchClock(campaign.engine, settings, smtp=smtp),
    )
    summary = asyncio.run(first.tick(vn(3, 10)))
    assert summary is not None and summary.totals.sent == 9
    assert asyncio.run(second.tick(vn(3, 10))) is None
    first.stop()  # releases the lease: the other takes over at its next tick
    assert asyncio.run(second.tick(vn(3, 10))) is not None
    assert len(sink.handler.accepted) == 9


def test_apscheduler_ticks_and_releases_the_lease(engine, settings) -> None:
    settings = settings.model_copy(update={"tick_seconds": 1})

    async def run_clock() -> None:
        clock = DispatchClock(engine, settings, smtp=smtp_for("127.0.0.1", free_port()))
        clock.start()
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                with Session(engine) as session:
                    lease = session.get(Lease, DISPATCHER_LEASE)
                if lease is not None and lease.holder == clock.holder:
                    break
            else:
                pytest.fail("the first tick never ran")
        finally:
            clock.stop()
        with Session(engine) as session:
            assert session.get(Lease, DISPATCHER_LEASE).expires_at <= utcnow()

    asyncio.run(run_clock())


@pytest.mark.slow
def test_serve_with_sink_starts_and_stops_cleanly(settings) -> None:
    port = free_port()
    env = {
        **os.environ,
        "THIDUA_DATA_DIR": str(settings.data_dir),
        "THIDUA_SMTP_PORT": str(port),
        "PYTHONPATH": str(REPO_ROOT),
    }
    env.pop("THIDUA_DATABASE_URL", None)
    web_port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "thidua.cli.main", "serve", "--sink", "--port", str(web_port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        lines = []
        while not any("Trang web chạy tại" in line for line in lines):
            assert serve.poll() is None and time.monotonic() < deadline, serve.stderr.read()
            lines.append(serve.stdout.readline())
        assert any(f"127.0.0.1:{port}" in line for line in lines)
        import smtplib

        with smtplib.SMTP("127.0.0.1", port) as client:  # the embedded sink stores what it gets
            client.sendmail("a@x.vn", ["b@x.vn"], b"Subject: thu\r\nMessage-ID: <m@x>\r\n\r\nxin chao\r\n")
        assert len(list((settings.data_dir / "mail").glob("*.eml"))) == 1
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/dang-nhap", timeout=10) as page:  # the pages too
            assert page.status == 200 and "Đăng nhập" in page.read().decode("utf-8")
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=15) == 0
        assert "Đã dừng." in serve.stdout.read()
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
