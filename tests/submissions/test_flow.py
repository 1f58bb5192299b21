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


@pytest.mark.slow
def test_consolidation_flow_runs_the_service(binh_dinh_db, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copyfile(binh_dinh_db, data_dir / "thidua.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("THIDUA_", "PREFECT_"))}
    env.update(THIDUA_DATA_DIR=str(data_dir), PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
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
