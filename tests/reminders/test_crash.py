"""A dispatcher killed (SIGKILL) in the middle of a batch, then restarted: zero lost, zero silent duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlalchemy import update

from thidua.models.tables import Unit
from thidua.notifications.message import message_id_for
from thidua.notifications.sink import FaultInjectingHandler
from tests.reminders.conftest import load_binh_dinh, smtp_for, vn
from thidua.db import session_scope
from thidua.services import reminders as service
from thidua.settings import REPO_ROOT

NOW = vn(3, 10)


@pytest.mark.slow
def test_killed_mid_batch_then_restarted(engine, settings, tmp_path, sinks) -> None:
    campaign = load_binh_dinh(engine, settings, tmp_path, districts=4, cdcs_per_district=30)
    with session_scope(engine) as session:  # two addresses per unit: 248 reminders + the office digest
        for code in campaign.units:
            address = code.lower().replace(".", "-")
            session.execute(
                update(Unit)
                .where(Unit.code == code)
                .values(emails=[f"{address}@example.vn", f"chu-tich.{address}@example.vn"])
            )
    total = 124 * 2 + 1
    sink = sinks(FaultInjectingHandler(reply_delay_s=0.02))
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.reminders._dispatch_child",
            settings.db_url,
            str(settings.data_dir),
            str(sink.port),
            NOW.isoformat(),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while len(sink.handler.accepted) < 80:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never got going"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    at_kill = len(sink.handler.accepted)
    assert at_kill < total, "killed too late to test anything"
    interrupted = Counter(r.status for r in campaign.outbox())
    assert interrupted["claimed"] > 0

    time.sleep(2.5)  # the child's lease expires
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    rows = [r for r in campaign.outbox() if r.kind != "failure_report"]  # the restart reports the unknown ones
    by_status = Counter(r.status for r in rows)
    accepted = Counter(r.message_id for r in sink.handler.accepted)
    mid = {r.key: message_id_for(r.key, settings.mail_domain) for r in rows}

    # Zero lost: every mail is sent, or waits for an operator's decision as "unknown".
    assert len(rows) == total and set(by_status) == {"sent", "unknown"}
    assert all(accepted[mid[r.key]] == 1 for r in rows if r.status == "sent")
    # Zero silent duplicates: no message reached the server twice.
    assert max(accepted.values()) == 1
    # Rows the child never handed to SMTP were simply sent again; only the small "maybe sent" window
    # (one recording window ahead of the transport) needs a person.
    assert summary.recovery.returned > 0
    assert summary.recovery.unknown == by_status["unknown"]
    assert 0 < by_status["unknown"] <= service.RECORD_EVERY + smtp_for(sink.host, sink.port).connections
    unknown_at_sink = sum(1 for r in rows if r.status == "unknown" and accepted[mid[r.key]])
    assert by_status["sent"] + unknown_at_sink + 1 == len(sink.handler.accepted)  # + the failure report


@pytest.mark.slow
def test_a_restart_on_the_same_machine_recovers_a_killed_senders_claims_at_once(
    engine, settings, tmp_path, sinks
) -> None:
    """The killed sender's lease still runs for 10 minutes; its id names this host and a process that is gone,
    so the next sender takes its rows back immediately instead of leaving them 'đang gửi'."""
    campaign = load_binh_dinh(engine, settings, tmp_path, districts=4, cdcs_per_district=30)
    sink = sinks(FaultInjectingHandler(reply_delay_s=0.05))
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.reminders._dispatch_child",
            settings.db_url,
            str(settings.data_dir),
            str(sink.port),
            NOW.isoformat(),
            "600",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while len(sink.handler.accepted) < 5:
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the child never got going"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert Counter(r.status for r in campaign.outbox())["claimed"] > 0
    claimed = Counter(r.status for r in campaign.outbox())["claimed"]
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))  # at once: the lease has 10 minutes left
    # Every row the dead sender held came back now: unsent ones are sent, possibly-sent ones await a person.
    assert summary.recovery.returned + summary.recovery.unknown == claimed
    statuses = Counter(r.status for r in campaign.outbox() if r.kind != "failure_report")
    assert set(statuses) <= {"sent", "unknown"} and statuses["sent"] > 0
