"""`thidua clusters ...`: import (located errors, exit 1, nothing written), list, show with ranking, rotate, submit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import BINH_DINH_CAMPAIGN
from thidua.cli.main import app
from thidua.services.campaigns import load_campaign
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR, get_settings

BOX_DRAWING = re.compile("[\u2500-\u257f]")


@pytest.fixture
def run(engine, settings, monkeypatch):
    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    load_levels(engine)
    import_units(engine, CONFIG_DIR / "units" / "binh_dinh.yaml")
    load_campaign(engine, BINH_DINH_CAMPAIGN)
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["clusters", *args])
        assert result.exit_code == code, result.output
        assert "Traceback" not in result.output
        return " ".join(BOX_DRAWING.sub(" ", result.output).split())

    yield invoke
    get_settings.cache_clear()


def test_import_list_show_rotate_submit(run, tmp_path: Path) -> None:
    bad = tmp_path / "cum.csv"
    bad.write_text("Năm,Mã cụm,Tên cụm,Loại,Mã đơn vị,Trưởng cụm\n2023,C1,Cụm 1,cụm,BDH.XYZ,x\n", encoding="utf-8")
    out = run("import", str(bad), code=1)
    assert f"{bad}:2: Mã đơn vị: không có đơn vị mã 'BDH.XYZ'" in out
    assert "Chưa có cụm/khối thi đua nào" in run("list")
    assert "Sẽ nhập" in run("import", str(CONFIG_DIR / "clusters" / "binh_dinh.yaml"), "--dry-run")
    assert "Chưa có cụm/khối thi đua nào" in run("list")
    assert "6 mới, 0 cập nhật, 0 bỏ; 38 lượt" in run("import", str(CONFIG_DIR / "clusters" / "binh_dinh.yaml"))
    listed = run("list", "--year", "2024")
    assert "BDH-CUM1" in listed and "LĐLĐ thị xã An Nhơn (BDH.ANH)" in listed  # the 2024 head
    shown = run("show", "BDH-CUM1", "--campaign", "bd-2023")
    assert "Đơn vị trưởng cụm: LĐLĐ thành phố Quy Nhơn (BDH.QNH)" in shown and "Điểm tạm tính" in shown
    assert "đồng hạng" in shown and "Chưa gửi" not in shown and "chưa gửi bảng xếp hạng" in shown
    assert "Chỉ đơn vị trưởng" in run("submit", "bd-2023", "BDH-CUM1", "--as", "BDH.ANH", "--bien-ban", "BB 1", code=1)
    assert "BDH.TPH" in run("rotate-head", "BDH-CUM1", "--year", "2023", "--head", "BDH.TPH")
    sent = run(
        "submit", "bd-2023", "BDH-CUM1", "--as", "BDH.TPH", "--bien-ban", "Biên bản số 02/BB-CTĐ ngày 05/12/2023"
    )
    assert "Đã gửi bảng xếp hạng Cụm thi đua số 1 (phía Nam) (lần 1)" in sent
    assert "Bảng xếp hạng đã gửi (lần 1" in run("show", "BDH-CUM1", "--campaign", "bd-2023")
