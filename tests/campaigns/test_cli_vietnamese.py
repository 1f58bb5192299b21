"""The command line at 80 columns, in Vietnamese end to end: framework text translated, level names rather
than codes, codes never cut, long lists limited. Run as a user runs it: `COLUMNS=80 thidua …` in a process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlmodel import Session, select

from tests.factories import small_binh_dinh
from thidua.db import session_scope
from thidua.models.tables import ObligationDef
from thidua.services.campaigns import load_campaign
from thidua.settings import CONFIG_DIR, REPO_ROOT

ENGLISH = (
    "Usage",
    "Options",
    "Arguments",
    "Show this message",
    "[default",
    "[required]",
    "Missing argument",
    "Invalid value",
    "Input should be",
    "Try '",
    "Error",
)


@pytest.fixture
def database(engine):  # noqa: ANN001, ANN201
    with session_scope(engine) as session:
        small_binh_dinh(session, districts=3, cdcs_per_district=40)
    load_campaign(engine, CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml")
    return engine


def thidua(engine, *args: str) -> subprocess.CompletedProcess:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith("THIDUA_")}
    env.update(COLUMNS="80", THIDUA_DATABASE_URL=str(engine.url), PYTHONPATH=str(REPO_ROOT))
    return subprocess.run(
        [sys.executable, "-m", "thidua", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_campaign_show_at_80_columns_keeps_every_code_whole(database) -> None:  # noqa: ANN001
    done = thidua(database, "campaign", "show", "bd-2023")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    with Session(database) as session:
        codes = session.exec(select(ObligationDef.code)).all()
    assert len(codes) == 7  # with the báo cáo nhanh (bao-cao-nhanh-sang-kien), the longest code
    for code in codes:
        assert any(line.split("│")[1].strip() == code for line in lines if line.count("│") > 2), code
    assert "…" not in done.stdout
    assert "CĐ cấp trên" in done.stdout and "cap_tren_truc_tiep" not in done.stdout  # names, not codes


@pytest.fixture
def cli(database, monkeypatch):  # noqa: ANN001, ANN201
    """In-process runs (a cold start per command is slow under load) with the console at 80 columns."""
    from typer.testing import CliRunner

    from thidua.cli import common
    from thidua.cli.main import app
    from thidua.settings import get_settings

    monkeypatch.setenv("THIDUA_DATABASE_URL", str(database.url))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(common.console, "width", 80)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, list(args), prog_name="thidua")
    get_settings.cache_clear()


def test_status_fits_80_columns_and_limits_long_lists(cli) -> None:  # noqa: ANN001
    done = cli("status", "bd-2023", "--unit", "BDH.D1", "--now", "12/10/2023", "--limit", "5")
    assert done.exit_code == 0, done.output
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    assert "BDH.D1.1 " in done.stdout and "BDH.D1.6 " not in done.stdout
    assert "… và 35 đơn vị khác (--limit 0 để xem tất cả" in done.stdout.replace("\n", " ")
    everything = cli("status", "bd-2023", "--unit", "BDH.D1", "--now", "12/10/2023", "--limit", "0")
    assert "BDH.D1.40 " in everything.stdout


def test_help_and_usage_errors_are_vietnamese(cli) -> None:  # noqa: ANN001
    shown = cli("plan", "--help")
    assert shown.exit_code == 0
    assert "Cách dùng: thidua plan [TÙY CHỌN]" in shown.stdout and "Tùy chọn" in shown.stdout
    assert "[mặc định: 30]" in shown.stdout and "Hiện hướng dẫn này rồi thoát." in shown.stdout
    assert "<số nguyên>" in shown.stdout
    for args, expected in (
        (["plan"], "Thiếu tham số 'code'."),
        (["plan", "bd-2023", "--days", "abc"], "Giá trị không hợp lệ cho '--days': phải là số nguyên"),
        (["plan", "bd-2023", "--dayz", "3"], "Không có tùy chọn: --dayz"),
        (["plann"], "Không có lệnh 'plann'. Có phải ý bạn là 'plan'?"),
    ):
        failed = cli(*args)
        assert failed.exit_code == 2, (args, failed.output)
        assert expected in failed.output, (args, failed.output)
        assert not [word for word in ENGLISH if word in failed.output], (args, failed.output)
    top = cli("--help")
    assert not [word for word in ENGLISH if word in top.stdout], top.stdout
