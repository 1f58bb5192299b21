"""Many readers and writers at once never get a server error (issue 10, point 6), at a reduced size; the full
size (100 readers, 50 writers, two server processes) is bench/bench_concurrency.py."""

from __future__ import annotations

import threading
import time
from typing import Iterator

import pytest
from sqlmodel import Session

from tests.web.concurrency import hammer, reviewer_cookie
from tests.web.conftest import World
from thidua.models.tables import Assignment
from thidua.services.submissions import submit_report


@pytest.fixture
def served(any_world: World) -> Iterator[tuple[World, str]]:
    """The application under uvicorn in a thread, as `thidua web` runs it."""
    import uvicorn

    from thidua.notifications.sink import free_port
    from thidua.web.app import create_app

    port = free_port()
    app = create_app(any_world.settings, any_world.engine, clock=any_world.now)
    app.state.send_mail_now = None
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the web server did not start"
        time.sleep(0.02)
    yield any_world, f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def test_concurrent_readers_and_writers_of_one_report_get_no_server_error(served) -> None:  # noqa: ANN001
    w, url = served
    with Session(w.engine) as session:
        submit_report(
            session,
            campaign_code="bd-2023",
            obligation_code="so-ket-dot-1",
            unit_code="BDH.D1.1",
            raw={"so_sang_kien": 3, "so_doan_vien_moi": 4},
            actor="test",
            now=w.now(),
        )
        session.commit()
    assignment_id = w.assignment_id("BDH.D1.1", "so-ket-dot-1")
    reviewer = w.users["reviewer_d1"]
    cookie, csrf = reviewer_cookie(w.settings, reviewer.id, reviewer.email, w.now(), sid="phien-dong-thoi")
    result = hammer([url], cookie, csrf, assignment_id, readers=40, writers=20)
    assert result.readers == {200: 40}
    assert result.writers == {303: 1, 409: 19}  # one approval; the others are told it changed meanwhile
    with Session(w.engine) as session:
        assert session.get(Assignment, assignment_id).status == "da_duyet"
