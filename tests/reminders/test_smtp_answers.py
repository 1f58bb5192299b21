"""When a pass stops early the operator is told why: what the SMTP server answered (a 451 to everything is not
"could not connect"), or that nothing answered."""

from __future__ import annotations

from typer.testing import CliRunner

from thidua.cli.main import app
from thidua.notifications.sink import FaultInjectingHandler, free_port
from thidua.settings import get_settings


def send_due(monkeypatch, settings, port: int) -> str:  # noqa: ANN001
    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    monkeypatch.setenv("THIDUA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("THIDUA_SMTP_PORT", str(port))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["reminders", "send-due", "bd-2023", "--now", "03/10/2023 09:00"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return " ".join(result.output.split())


def test_a_server_answering_451_to_everything_is_quoted(campaign, settings, sinks, monkeypatch) -> None:  # noqa: ANN001
    sink = sinks(FaultInjectingHandler(fail_first=10_000, fail_code=451, fail_at="MAIL"))
    out = send_due(monkeypatch, settings, sink.port)
    assert f'Máy chủ thư 127.0.0.1:{sink.port} trả lời "451' in out and "lỗi tạm thời" in out, out
    assert "Không kết nối được" not in out


def test_no_server_at_all_is_said_to_be_unreachable(campaign, settings, monkeypatch) -> None:  # noqa: ANN001
    port = free_port()
    out = send_due(monkeypatch, settings, port)
    assert f"Không kết nối được máy chủ thư 127.0.0.1:{port}" in out, out
