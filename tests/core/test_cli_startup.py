"""The command line starts light: the ORM, Prefect and the web stack load only for the commands that use them."""

from __future__ import annotations

import json
import subprocess
import sys

from thidua.settings import REPO_ROOT

HEAVY = ("sqlalchemy", "sqlmodel", "prefect", "fastapi", "alembic", "jinja2", "aiosmtplib")
CAMPAIGN = REPO_ROOT / "config" / "campaigns" / "binh_dinh_2023.yaml"

PROBE = """
import json, sys
from typer.testing import CliRunner
import thidua.cli.main as cli
loaded_by_import = sorted(m for m in {heavy!r} if m in sys.modules)
result = CliRunner().invoke(cli.app, {args!r})
print(json.dumps({{"import": loaded_by_import, "run": sorted(m for m in {heavy!r} if m in sys.modules),
                   "exit": result.exit_code, "output": result.output}}))
"""


def _probe(args: list[str], env_data_dir=None) -> dict:  # noqa: ANN001
    env = None
    if env_data_dir is not None:
        import os

        env = {**os.environ, "THIDUA_DATA_DIR": str(env_data_dir)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, args=args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_cli_loads_no_orm_prefect_or_web_stack():
    figures = _probe(["--help"])
    assert figures["import"] == []
    assert figures["exit"] == 0 and "validate" in figures["output"] and "status" in figures["output"]
    assert figures["run"] == [], "--help must not load them either"


def test_validate_a_campaign_file_without_the_orm():
    figures = _probe(["validate", str(CAMPAIGN)])
    assert figures["exit"] == 0, figures["output"]
    assert "hợp lệ" in figures["output"]
    assert figures["run"] == []


def test_status_reads_with_sqlalchemy_core_only(engine, settings):
    from datetime import datetime, timezone

    from sqlmodel import Session

    from tests.factories import small_binh_dinh
    from thidua.services.campaigns import load_campaign
    from thidua.services.status import status_report

    with Session(engine) as session:
        small_binh_dinh(session, districts=2, cdcs_per_district=3)
        session.commit()
    load_campaign(engine, CAMPAIGN)
    with engine.connect() as conn:
        owed = status_report(conn, "bd-2023", now=datetime(2023, 10, 12, 3, tzinfo=timezone.utc)).total.owed
    figures = _probe(["status", "bd-2023", "--now", "12/10/2023 10:00"], env_data_dir=settings.data_dir)
    assert figures["exit"] == 0, figures["output"]
    assert f"Tổng: {owed} nghĩa vụ" in figures["output"]
    assert figures["run"] == ["sqlalchemy"], "status needs SQLAlchemy Core, not the ORM models, Alembic or Prefect"
