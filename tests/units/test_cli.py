"""`thidua units ...`: exit codes and Vietnamese messages, never a traceback for bad input."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from tests.units.helpers import BASE_ROWS, unit_row, units_by_code, write_csv
from thidua.cli.main import app
from thidua.settings import CONFIG_DIR, get_settings


BOX_DRAWING = re.compile("[\u2500-\u257f]")  # rich table borders


@pytest.fixture
def run(engine, settings, monkeypatch):
    """Run the CLI against the test database (the `engine` fixture's file); the output comes back without
    table borders and with spaces collapsed, because rich wraps long lines at 80 columns."""
    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["units", *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)  # no crash
        return " ".join(BOX_DRAWING.sub(" ", result.output).split())

    yield invoke
    get_settings.cache_clear()


def test_levels_import_and_show(run, engine):
    assert "Thêm mới 4 tong_ldld, ldld_tinh, cap_tren_truc_tiep, cdcs" in run("levels")
    out = run("import", str(CONFIG_DIR / "units" / "binh_dinh.yaml"))
    assert "Thêm mới 21 TLD, BDH," in out and "Đã thay đổi 21 đơn vị" in out
    out = run("import", str(CONFIG_DIR / "units" / "binh_dinh_cdcs.csv"))
    assert "Thêm mới 1.200" in out and "Không đổi 0" in out

    out = run("show", "BDH")

    assert "Liên đoàn Lao động tỉnh Bình Định" in out and "vanphong@ldld.binhdinh.vn" in out
    assert "Tổng LĐLĐ TLD Tổng Liên đoàn Lao động Việt Nam" in out  # the parent chain
    assert "CĐ cấp trên trực tiếp 19 19" in out and "CĐCS 0 1200" in out
    assert "BDH" in units_by_code(engine)


def test_import_report_dry_run_and_deactivate(run, tmp_path):
    run("levels")
    path = write_csv(tmp_path / "base.csv", BASE_ROWS)
    run("import", str(path))

    out = run("import", str(write_csv(tmp_path / "moi.csv", BASE_ROWS[:4])), "--deactivate-missing", "--dry-run")
    assert "CHẠY THỬ" in out and "Ngừng hoạt động 4" in out and "Sẽ thay đổi 4 đơn vị" in out

    out = run("import", str(path))
    assert "Không đổi 8" in out and "Đã thay đổi 0 đơn vị" in out


def test_bad_file_lists_every_problem_with_exit_1(run, tmp_path):
    run("levels")
    rows = [BASE_ROWS[0], unit_row("A", "", "cdcs", "TLD"), unit_row("B", "Tên", "cap_xa", "TLD")]
    path = write_csv(tmp_path / "loi.csv", rows)

    out = run("import", str(path), code=1)

    assert "Có 2 lỗi:" in out
    assert "loi.csv:3: ten_don_vi: thiếu tên đơn vị" in out
    assert "loi.csv:4: cap: cấp không tồn tại: 'cap_xa'" in out


def test_user_errors_exit_1(run, tmp_path):
    assert "không tìm thấy tệp" in run("import", str(tmp_path / "khong_co.csv"), code=1)
    assert "Lỗi: không có đơn vị mã 'XYZ'" in run("show", "XYZ", code=1)
    assert "định dạng tệp không được hỗ trợ" in run("import", str(write_csv(tmp_path / "a.txt", [])), code=1)
    bad_levels = tmp_path / "levels.yaml"
    bad_levels.write_text("levels: [{code: A, name: x}]\n", encoding="utf-8")
    assert "levels[0].code" in run("levels", str(bad_levels), code=1)


def test_generators(run, tmp_path):
    out = run("generate-binh-dinh", "--out", str(tmp_path / "bd.csv"))
    assert "Đã ghi 1200 CĐCS giả lập" in out
    committed = (CONFIG_DIR / "units" / "binh_dinh_cdcs.csv").read_bytes()
    assert (tmp_path / "bd.csv").read_bytes() == committed

    out = run("generate-national", "--out", str(tmp_path / "vn.csv"), "--provinces", "3", "--cdcs", "500")
    lines = (tmp_path / "vn.csv").read_text(encoding="utf-8-sig").splitlines()
    assert f"Đã ghi {len(lines) - 1} đơn vị giả lập" in out


def test_show_prints_names_verbatim(run, tmp_path):
    run("levels")
    run("import", str(write_csv(tmp_path / "a.csv", [unit_row("A", "Đơn vị [bold]thử[/bold]", "tong_ldld")])))
    assert "Đơn vị [bold]thử[/bold]" in run("show", "A")


def test_reorganise_dry_run_then_apply_then_show_as_of(run, engine, tmp_path):
    from tests.units.test_reorganisation import write_changes

    run("levels")
    run("import", str(CONFIG_DIR / "units" / "binh_dinh.yaml"))
    changes = write_changes(
        tmp_path / "thay_doi.csv",
        [
            ("01/07/2025", "giai_the", "BDH.ANH", "BDH", "", "", ""),
            ("01/07/2025", "doi_ten", "BDH.QNH", "", "Công đoàn khu vực Quy Nhơn", "", ""),
        ],
    )
    out = run("reorganise", str(changes), "--dry-run", "--today", "15/07/2025")
    assert "CHẠY THỬ" in out and "'BDH.ANH' ngừng hoạt động từ 01/07/2025" in out
    assert "đổi tên 'BDH.QNH'" in out and "Sẽ áp dụng 2 dòng" in out
    assert "Công đoàn khu vực Quy Nhơn" not in run("show", "BDH.QNH")

    out = run("reorganise", str(changes), "--today", "15/07/2025")
    assert "Đã áp dụng 2 dòng" in out
    assert "Công đoàn khu vực Quy Nhơn" in run("show", "BDH.QNH")
    out = run("show", "BDH.QNH", "--as-of", "30/06/2025")
    assert "vào ngày 30/06/2025" in out and "Công đoàn khu vực Quy Nhơn" in out  # the history lists both names
    assert "— 30/06/2025" in out and "01/07/2025 nay" in out
    out = run("show", "BDH.ANH", "--as-of", "01/07/2025")
    assert "không (ngừng hoạt động)" in out

    out = run("reorganise", str(changes), "--today", "15/07/2025", code=1)  # BDH.ANH has ended: refused, located
    assert "thay_doi.csv:2: ma_don_vi: đơn vị 'BDH.ANH' đã ngừng hoạt động" in out
