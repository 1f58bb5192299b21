"""The CLI: exit code 0 with a Vietnamese confirmation, or 1 with a message naming what and why."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from tests.submissions.conftest import db_state
from thidua.cli import submissions as cli
from thidua.cli.main import app

runner = CliRunner()


@pytest.fixture
def run(loaded, monkeypatch):
    monkeypatch.setattr(cli, "_engine", lambda: loaded.engine)

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        text = " ".join(result.output.replace("│", " ").split())  # rich wraps long lines and draws tables
        assert result.exit_code == code, text
        assert "Traceback" not in text
        return text

    return invoke


def test_submit_and_review(run, tmp_path):
    form = tmp_path / "bao-cao.yaml"
    form.write_text("so_sang_kien: '12'\nso_doan_vien_moi: 3\n", encoding="utf-8")
    out = run(
        "submit",
        "bd-2023",
        "--unit",
        "BDH.D1.1",
        "--obligation",
        "so-ket-dot-1",
        "--file",
        str(form),
        "--now",
        "05/06/2023 08:30",
    )
    assert out == "Đã ghi báo cáo 'so-ket-dot-1' của BDH.D1.1, bản số 1: Đã gửi (chờ duyệt)"
    out = run(
        "review", "bd-2023", "--unit", "BDH.D1.1", "--obligation", "so-ket-dot-1", "--as", "BDH.D1", "--return", code=1
    )
    assert "trả lại báo cáo phải kèm nhận xét (--comment)" in out
    out = run(
        "review", "bd-2023", "--unit", "BDH.D1.1", "--obligation", "so-ket-dot-1", "--as", "BDH.D2", "--accept", code=1
    )
    assert "đơn vị 'BDH.D2' không được duyệt báo cáo 'so-ket-dot-1' của 'BDH.D1.1' (đơn vị duyệt là 'BDH.D1')" in out
    out = run(
        "review",
        "bd-2023",
        "--unit",
        "BDH.D1.1",
        "--obligation",
        "so-ket-dot-1",
        "--as",
        "BDH.D1",
        "--return",
        "--comment",
        "Thiếu gương điển hình",
    )
    assert out == "Đã trả lại báo cáo 'so-ket-dot-1' của BDH.D1.1 (bản số 1)"
    run(
        "review",
        "bd-2023",
        "--unit",
        "BDH.D1.1",
        "--obligation",
        "so-ket-dot-1",
        "--as",
        "BDH.D1",
        "--accept",
        "--return",
        code=1,
    )


def test_bad_input_is_refused_without_traceback(run, loaded, tmp_path):
    form = tmp_path / "bao-cao.json"
    form.write_text('{"so_sang_kien": -1, "so_doan_vien_moi": "nhiều"}', encoding="utf-8")
    before = db_state(loaded.engine)
    out = run("submit", "bd-2023", "--unit", "BDH.D1.1", "--obligation", "so-ket-dot-1", "--file", str(form), code=1)
    assert "Số sáng kiến trong đợt [so_sang_kien]: giá trị -1 nhỏ hơn mức tối thiểu 0" in out
    assert "Số đoàn viên mới kết nạp [so_doan_vien_moi]: phải là số nguyên, nhận 'nhiều'" in out
    out = run("submit", "bd-2023", "--unit", "BDH.X", "--obligation", "so-ket-dot-1", "--file", str(form), code=1)
    assert "không có đơn vị mã 'BDH.X'" in out
    out = run(
        "submit",
        "bd-2023",
        "--unit",
        "BDH.D1.1",
        "--obligation",
        "so-ket-dot-1",
        "--file",
        str(tmp_path / "khong-co.yaml"),
        code=1,
    )
    assert "không tìm thấy tệp" in out
    out = run(
        "submit",
        "bd-2023",
        "--unit",
        "BDH.D1.1",
        "--obligation",
        "so-ket-dot-1",
        "--file",
        str(form),
        "--now",
        "32/13/2023",
        code=1,
    )
    assert "thời điểm không hợp lệ: '32/13/2023'" in out
    assert db_state(loaded.engine) == before


def test_closed_campaign_and_reopen(run, tmp_path):
    form = tmp_path / "bao-cao.yaml"
    form.write_text("so_sang_kien: 1\nso_doan_vien_moi: 1\n", encoding="utf-8")
    submit = ("submit", "bd-2023", "--unit", "BDH.D1.1", "--obligation", "so-ket-dot-1", "--file", str(form))
    assert run("campaign", "close", "bd-2023") == "Đã đóng chiến dịch bd-2023."
    assert "chiến dịch 'bd-2023' đã đóng" in run(*submit, code=1)
    assert run("campaign", "reopen", "bd-2023") == "Đã mở lại chiến dịch bd-2023."
    run(*submit)


def test_forms_template_and_import(run, tmp_path):
    template = tmp_path / "mau.xlsx"
    assert (
        run("forms", "template", "bd-2023", "--obligation", "so-ket-dot-1", "--for", "BDH.D2", "--out", str(template))
        == f"Đã tạo {template} với 3 đơn vị."
    )
    workbook = load_workbook(template)
    sheet = workbook.active
    sheet["E5"], sheet["F5"] = 4, 2  # BDH.D2.1
    sheet["E6"], sheet["F6"] = "bốn", 2  # BDH.D2.2: bad
    workbook.save(template)
    importing = (
        "forms",
        "import",
        "bd-2023",
        "--obligation",
        "so-ket-dot-1",
        "--as",
        "BDH.D2",
        "--file",
        str(template),
    )
    out = run(*importing, code=1)
    assert "dòng 6, cột E (Số sáng kiến trong đợt): phải là số nguyên, nhận 'bốn'" in out and "chưa ghi dòng nào" in out
    out = run(*importing, "--partial")
    assert out.startswith("Đã ghi 1 báo cáo.") and "dòng 6, cột E" in out


def test_targets_and_reports(run, tmp_path):
    form = tmp_path / "bao-cao.yaml"
    form.write_text("so_sang_kien: 40\nso_doan_vien_moi: 1\n", encoding="utf-8")
    run(
        "submit",
        "bd-2023",
        "--unit",
        "BDH.D1.1",
        "--obligation",
        "so-ket-dot-1",
        "--file",
        str(form),
        "--now",
        "01/06/2023",
    )
    run(
        "review",
        "bd-2023",
        "--unit",
        "BDH.D1.1",
        "--obligation",
        "so-ket-dot-1",
        "--as",
        "BDH.D1",
        "--accept",
        "--now",
        "02/06/2023",
    )
    out = run("targets", "bd-2023", "--at", "31/08/2023", "--target", "sang-kien-8000")
    assert "Liên đoàn Lao động tỉnh Bình Định 0 0 % — Chưa đến hạn báo cáo 0/2" in out and "08/09/2023" in out
    # The 31/8 target reads the báo cáo nhanh (figures to 31/08, due 08/09) of the 2 districts, not round 1's report.
    quick = tmp_path / "bao-cao-nhanh.yaml"
    quick.write_text("so_sang_kien_luy_ke: 40\n", encoding="utf-8")
    run(
        "submit",
        "bd-2023",
        "--unit",
        "BDH.D1",
        "--obligation",
        "bao-cao-nhanh-sang-kien",
        "--file",
        str(quick),
        "--now",
        "05/09/2023",
    )
    run(
        "review",
        "bd-2023",
        "--unit",
        "BDH.D1",
        "--obligation",
        "bao-cao-nhanh-sang-kien",
        "--as",
        "BDH",
        "--accept",
        "--now",
        "06/09/2023",
    )
    out = run("targets", "bd-2023", "--at", "08/09/2023", "--target", "sang-kien-8000")
    # the quick report counts to 31/08: the header says so, not "to 08/09" (the day looked at)
    assert "Toàn tỉnh đạt 8.000 sáng kiến" in out and "số liệu chốt đến hết 31/08/2023 (xem ngày 08/09/2023)" in out
    assert "Liên đoàn Lao động tỉnh Bình Định 40 0,5 % — Chưa đạt 1/2" in out
    assert "không có chỉ tiêu 'khong-co'" in run("targets", "bd-2023", "--target", "khong-co", code=1)
    out = run("report", "round", "bd-2023", "--round", "1", "--out", str(tmp_path / "bc"))
    assert (tmp_path / "bc" / "bd-2023-so-ket-dot-1.xlsx").exists() and (
        tmp_path / "bc" / "bd-2023-so-ket-dot-1.docx"
    ).exists()
    assert "không có báo cáo sơ kết đợt 7" in run("report", "round", "bd-2023", "--round", "7", code=1)
    out = run("report", "consolidate", "bd-2023", "--round", "1")
    assert out == "Tổng hợp 'so-ket-dot-1': 3 đơn vị tổng hợp, 0 bản số liệu mới (số liệu không đổi so với lần trước)"
