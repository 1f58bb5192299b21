"""`thidua reminders …`: what operators type, exit codes and Vietnamese messages (never a traceback)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from thidua.notifications.sink import FaultInjectingHandler
from tests.reminders.conftest import parse
from thidua.cli.main import app
from thidua.settings import get_settings

BOX_DRAWING = re.compile("[\u2500-\u257f]")


@pytest.fixture
def cli(campaign, settings, sinks, monkeypatch):
    """Run the CLI against the test database and a sink; output with table borders removed, spaces collapsed."""
    sink = sinks(FaultInjectingHandler(refuse_recipients={"bdh-d2-2@example.vn": 550}))
    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    monkeypatch.setenv("THIDUA_SMTP_HOST", sink.host)
    monkeypatch.setenv("THIDUA_SMTP_PORT", str(sink.port))
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["reminders", *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        return " ".join(BOX_DRAWING.sub(" ", result.output).split())

    invoke.sink = sink  # type: ignore[attr-defined]
    yield invoke
    get_settings.cache_clear()


def test_preview_shows_what_will_go_out_and_sends_nothing(cli, campaign) -> None:
    out = cli("preview", "bd-2023", "--days", "10", "--now", "01/10/2023 12:00", "--unit", "BDH.D1.1")
    assert "08:00 03/10/2023 Nhắc hạn Báo cáo sơ kết đợt 2 truoc-7-ngay:0 1 1" in out
    assert "08:00 09/10/2023 Nhắc hạn Báo cáo sơ kết đợt 2 truoc-1-ngay:0" in out
    assert "bdh-d1-1@example.vn" in out
    assert campaign.outbox() == []


def test_send_due_status_and_decisions(cli, campaign) -> None:
    out = cli("send-due", "bd-2023", "--now", "03/10/2023 09:00", code=2)  # one address was refused
    assert "lập lịch 8 thư nhắc, 0 thư báo cấp trên, 1 thư tổng hợp" in out
    assert "Đã gửi 9, một phần 0, thất bại 1, chưa rõ 0" in out  # 7 reminders, the digest, the failure report
    out = cli("status", "bd-2023")
    assert "Đã gửi 9" in out and "Thất bại 1" in out
    assert "bdh-d2-2@example.vn" in out and "550" in out
    # Nothing unknown: a decision changes nothing and says so.
    out = cli("resolve-unknown", "--mark-sent", "--key", "khong-co")
    assert "1 khóa không ở trạng thái 'chưa rõ kết quả'" in out and "Đã cập nhật 0 thư" in out


def test_render_writes_eml_files(cli, tmp_path) -> None:
    out_dir = tmp_path / "eml"
    out = cli("render", "bd-2023", "--now", "09/10/2023 07:00", "--unit", "BDH.D2", "--out", str(out_dir))
    files = sorted(out_dir.glob("*.eml"))
    assert f"Đã ghi {len(files)} tệp .eml" in out and len(files) == 4  # BDH.D2 and its 3 CĐCS, −1 at 08:00
    message = parse(files[0].read_bytes())
    assert message["Subject"] == "Còn 1 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"
    assert cli.sink.handler.accepted == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("preview", "bd-2099"), "không có chiến dịch mã 'bd-2099'"),
        (("preview", "bd-2023", "--now", "32/13/2023"), "thời điểm không hợp lệ: '32/13/2023'"),
        (("preview", "bd-2023", "--unit", "KHONG.CO"), "không có đơn vị mã 'KHONG.CO'"),
        (("send-due", "bd-2099"), "không có chiến dịch mã 'bd-2099'"),
        (("resolve-unknown",), "chọn đúng một trong hai: --resend hoặc --mark-sent"),
        (("resolve-unknown", "--resend", "--mark-sent"), "chọn đúng một trong hai"),
    ],
)
def test_bad_input_is_one_vietnamese_line(cli, args, message) -> None:
    assert message in cli(*args, code=1)


@pytest.mark.parametrize(
    ("args", "code", "answer"),
    [
        (["status"], 0, "Đã gửi 0"),
        (["send-due", "--now", "01/03/2023 09:00"], 0, "lập lịch 0 thư nhắc"),
        (["preview", "bd-2023"], 1, "không có chiến dịch mã 'bd-2023'"),
        (["render", "bd-2023", "--out", "eml"], 1, "không có chiến dịch mã 'bd-2023'"),
        (["resolve-unknown", "--mark-sent"], 0, "Đã cập nhật 0 thư"),
    ],
)
def test_a_new_data_directory_gets_an_answer_not_a_traceback(tmp_path, monkeypatch, args, code, answer) -> None:
    """The first command a new office types may be a reminders one: the database is created as by every other
    command, and the answer is the empty state or a Vietnamese refusal."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THIDUA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    monkeypatch.setenv("THIDUA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("THIDUA_SMTP_PORT", "9")  # nothing is due: never connected
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["reminders", *args])
    finally:
        get_settings.cache_clear()
    out = " ".join(BOX_DRAWING.sub(" ", result.output).split())
    assert result.exit_code == code, result.output
    assert answer in out and "Traceback" not in out
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_short_secret_key_is_refused_before_anything_is_claimed(cli, campaign, monkeypatch) -> None:
    """Links in reminders are signed: a key the system refuses stops the pass before it plans or claims a row,
    so nothing waits in 'claimed' for crash recovery and nothing is half sent."""
    monkeypatch.setenv("THIDUA_SECRET_KEY", "ngan")
    get_settings.cache_clear()
    out = cli("send-due", "bd-2023", "--now", "03/10/2023 09:00", code=1)
    assert "Khoá bí mật (THIDUA_SECRET_KEY) quá ngắn" in out
    assert campaign.outbox() == [] and cli.sink.handler.accepted == []  # type: ignore[attr-defined]
