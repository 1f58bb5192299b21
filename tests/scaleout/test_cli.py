"""`thidua scaleout …`: refusals that keep one clock, checks, migrations, and a dispatch pass with a worker."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from thidua.models.clock import utcnow
from thidua.models.tables import Lease
from thidua.notifications.sink import RunningSink
from tests.scaleout.conftest import insert_tree, load_bd_campaign
from thidua.cli.main import app
from thidua.settings import Settings, get_settings

BOX_DRAWING = re.compile("[\u2500-\u257f]")


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, counting_sink: RunningSink):
    """The CLI on the test's SQLite file, mail to a counting sink; output flattened to one line."""
    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    monkeypatch.delenv("THIDUA_SCHEDULER_ENABLED", raising=False)
    monkeypatch.setenv("THIDUA_SMTP_HOST", counting_sink.host)
    monkeypatch.setenv("THIDUA_SMTP_PORT", str(counting_sink.port))
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["scaleout", *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return " ".join(BOX_DRAWING.sub(" ", result.output).split())

    yield invoke
    get_settings.cache_clear()


def _embedded(monkeypatch: pytest.MonkeyPatch, enabled: bool) -> None:
    monkeypatch.setenv("THIDUA_SCHEDULER_ENABLED", "true" if enabled else "false")
    get_settings.cache_clear()


def test_serve_keeps_a_single_clock(cli, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    out = cli("serve", code=1)
    assert "THIDUA_SCHEDULER_ENABLED đang bật" in out and "đặt THIDUA_SCHEDULER_ENABLED=false" in out

    _embedded(monkeypatch, False)
    with Session(engine) as session, session.begin():  # a `thidua serve` elsewhere is ticking on this database
        session.execute(
            insert(Lease).values(
                name="dispatcher", holder="may-chu-cu:4242:ab12", expires_at=utcnow() + timedelta(minutes=3)
            )
        )
    out = cli("serve", code=1)
    assert "đồng hồ nhúng của tiến trình may-chu-cu:4242:ab12 (thidua serve) đang gửi nhắc việc" in out


def test_serve_refuses_several_workers_on_sqlite_and_needs_a_prefect_server(
    cli, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _embedded(monkeypatch, False)
    assert "SQLite chỉ cho một giao dịch ghi" in cli("serve", "--workers", "2", code=1)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert "chưa đặt PREFECT_API_URL" in cli("serve", code=1)


def test_check_then_migrate(cli, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    out = cli("check", code=1)
    assert "Lược đồ lỗi chưa có bảng: chạy thidua scaleout migrate" in out
    assert "THIDUA_SCHEDULER_ENABLED lỗi true" in out
    assert "PREFECT_API_URL lỗi chưa đặt" in out
    assert "Cơ sở dữ liệu lưu ý sqlite" in out and "Máy chủ thư đạt" in out

    assert "đã ở lược đồ hiện hành" in cli("migrate")
    assert (settings.data_dir / "thidua.db").exists()
    _embedded(monkeypatch, False)
    out = cli("check", code=1)  # only the Prefect server is missing now
    assert "Lược đồ đạt" in out and "Đồng hồ nhúng đang chạy đạt không có" in out
    assert "THIDUA_SCHEDULER_ENABLED đạt" in out and out.count(" lỗi ") == 1


def test_deployments_lists_what_serve_registers(cli, engine: Engine, tmp_path: Path) -> None:
    insert_tree(engine, districts=1, cdcs_per_district=1)
    load_bd_campaign(engine, tmp_path)
    out = cli("deployments", "--workers", "4")
    assert "gui-nhac-viec-song-song/theo-lich mỗi 60 giây workers=4 1 (bỏ lượt trùng)" in out
    assert "gui-thu-da-lap-lich/song-song theo yêu cầu" in out
    assert "tong-hop-khi-het-han/theo-lich cron '5 * * * *' (Asia/Ho_Chi_Minh)" in out
    assert "campaign_code=bd-2023" in out  # the campaign in the database gets its daily schedule
    assert "số tiến trình gửi phải từ 1 đến 64 (nhận 99)" in cli("deployments", "--workers", "99", code=1)


def test_dispatch_workers_sends_the_pass_and_reports_each_worker(
    cli, engine: Engine, tmp_path: Path, counting_sink: RunningSink
) -> None:
    insert_tree(engine, districts=2, cdcs_per_district=3)
    load_bd_campaign(engine, tmp_path)
    out = cli("dispatch-workers", "1", "--now", "03/10/2023 09:00")
    sent = counting_sink.handler.messages
    assert sent > 6
    assert "Lượt gửi lúc 09:00 03/10/2023: lập lịch" in out
    assert f"Tổng: đã gửi {sent}, một phần 0, thất bại 0, chưa rõ 0" in out and "với 1 tiến trình" in out
    assert "SQLite chỉ cho một giao dịch ghi" in cli("dispatch-workers", "2", code=1)
    assert "thời điểm không hợp lệ: '31/02/2023'" in cli("dispatch-workers", "1", "--now", "31/02/2023", code=1)
    assert counting_sink.handler.messages == sent
