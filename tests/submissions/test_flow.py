"""The consolidation flow for real (Prefect's temporary server, ~10 s): run in a child process so that its
Prefect home and database are this test's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from thidua.models.submissions import ConsolidationSnapshot
from thidua.db import make_engine, session_scope
from thidua.settings import REPO_ROOT

SCRIPT = """
import asyncio, json
from thidua.flows.consolidation import consolidation_flow, consolidate_due_flow
from thidua.models.clock import local_to_utc
from datetime import datetime
first = asyncio.run(consolidation_flow("bd-2023", round_number=1))
due = asyncio.run(consolidate_due_flow(now=local_to_utc(datetime(2023, 6, 11, 8, 0))))
print(json.dumps({"first": first, "due": due}))
"""


def _run_in_child(script: str, binh_dinh_db, tmp_path):  # noqa: ANN001, ANN202
    """`script` in a child process with its own data directory (a copy of the Bình Định database) and its own
    Prefect home; returns (data directory, stdout)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(binh_dinh_db, data_dir / "thidua.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THIDUA_", "PREFECT_"))}
    env.update(THIDUA_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return data_dir, done.stdout


@pytest.mark.slow
def test_consolidation_flow_runs_the_service(binh_dinh_db, tmp_path):
    data_dir, stdout = _run_in_child(SCRIPT, binh_dinh_db, tmp_path)
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["first"] == {
        "campaign": "bd-2023",
        "obligation": "so-ket-dot-1",
        "round": 1,
        "aggregating_units": 3,
        "new_versions": 3,
    }
    # The on-demand run happened today, long after round 1's deadline, so the deadline-driven flow (as of
    # 11/06/2023) finds only the registration still to consolidate.
    assert result["due"] == [
        {
            "campaign": "bd-2023",
            "obligation": "dang-ky-thi-dua",
            "round": None,
            "aggregating_units": 3,
            "new_versions": 3,
        }
    ]
    engine = make_engine(f"sqlite:///{data_dir / 'thidua.db'}")
    with session_scope(engine) as session:
        assert session.execute(select(func.count()).select_from(ConsolidationSnapshot)).scalar_one() == 6
    engine.dispose()


SERVER_SCRIPT = """
import asyncio, json, os, sys
from thidua.notifications.sink import free_port
from thidua.prefect_server import PrefectServerProcess
from thidua.settings import configure_prefect_environment, get_settings
configure_prefect_environment(get_settings())
server = PrefectServerProcess(free_port())
server.start()
os.environ["PREFECT_API_URL"] = server.api_url
try:
    server.wait_ready()
    from thidua.flows.consolidation import consolidation_flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    async def run():
        result = await consolidation_flow("bd-2023", round_number=1)
        async with get_client() as client:
            runs = await client.read_flow_runs(limit=10, sort=FlowRunSort.ID_DESC)
        return result, [r.state_type.value for r in runs]

    result, states = asyncio.run(run())
    print(json.dumps({"result": result, "states": states,
                      "server_module_imported": "prefect.server.api.server" in sys.modules}))
finally:
    server.stop()
print(json.dumps({"stopped": server.process is None}))
"""


@pytest.mark.slow
def test_the_flows_use_the_prefect_server_thidua_started(binh_dinh_db, tmp_path):
    """`thidua demo` starts Prefect's temporary server as its own child (PrefectServerProcess) and names it in
    PREFECT_API_URL: the flow runs there, and the flow's process never imports Prefect's server."""
    _, stdout = _run_in_child(SERVER_SCRIPT, binh_dinh_db, tmp_path)
    lines = [json.loads(line) for line in stdout.strip().splitlines() if line.startswith("{")]
    ran, stopped = lines[-2], lines[-1]
    assert ran["result"]["new_versions"] == 3
    assert ran["states"] == ["COMPLETED"]  # recorded by the server thidua started
    assert ran["server_module_imported"] is False
    assert stopped == {"stopped": True}


def test_a_prefect_server_that_cannot_start_is_reported(tmp_path, monkeypatch):
    import socket

    from thidua.prefect_server import PrefectServerError, PrefectServerProcess

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    with socket.socket() as taken:  # the port is taken: uvicorn exits
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = PrefectServerProcess(taken.getsockname()[1])
        # Health answers come from whoever holds the port; this one never answers HTTP.
        server.start()
        try:
            with pytest.raises(PrefectServerError, match="máy chủ Prefect"):
                server.wait_ready(timeout_s=60)
        finally:
            server.stop()
    assert server.process is None
