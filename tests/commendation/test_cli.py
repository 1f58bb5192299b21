"""`thidua commendation …`: a numbered decision with its DOCX, the register, revocation; refusals are one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.commendation.conftest import person_at_province
from tests.nominations.conftest import World
from thidua.cli import commendation as cli
from thidua.cli import nominations as nominations_cli
from thidua.cli.main import app
from thidua.services.commendation.docx_fill import docx_text


@pytest.fixture
def run(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(nominations_cli, "_engine", lambda: world.engine)
    monkeypatch.setattr(cli, "_engine", lambda: world.engine)
    monkeypatch.setattr(cli.console, "width", 400)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["commendation", *args])


def test_cli_decides_with_a_number_writes_the_docx_and_revokes(run, world: World, tmp_path: Path) -> None:
    nomination_id = person_at_province(world)
    out = tmp_path / "qd.docx"
    decided = run(
        "decide",
        "bd-2023",
        str(nomination_id),
        "--as",
        "BDH",
        "--date",
        "20/12/2023",
        "--signer",
        "Nguyễn Văn Bình",
        "--out",
        str(out),
        "--now",
        "20/12/2023 10:00",
    )
    assert decided.exit_code == 0, decided.output
    assert "Quyết định số 1/QĐ-LĐLĐ cho 1 đề nghị; tiền thưởng 1.800.000 đồng" in decided.output
    assert "Nguyễn Văn An" in docx_text(out)
    printed = run("certificates", "1", "--out", str(tmp_path / "bk.pdf"))
    assert printed.exit_code == 0 and "Đã in 1 trang" in printed.output
    listed = run("decisions", "bd-2023")
    assert "1/QĐ-LĐLĐ" in listed.output and "có hiệu lực" in listed.output
    refused = run("revoke", "1", "--as", "BDH", "--reason", " ", "--now", "21/12/2023")
    assert refused.exit_code == 1 and "lý do" in refused.output and "Traceback" not in refused.output
    revoked = run("revoke", "1", "--as", "BDH", "--reason", "Khai man thành tích", "--now", "21/12/2023")
    assert revoked.exit_code == 0 and "2/QĐ-LĐLĐ" in revoked.output
    numbers = run("numbers", "BDH", "2023")
    assert "award_decision" in numbers.output and "revocation" in numbers.output
    assert "đã hủy: Khai man thành tích" in run("decisions", "bd-2023").output
    fund = run("fund", "bd-2023", "--out", str(tmp_path / "quy.xlsx"))
    assert fund.exit_code == 0 and "Tiền thưởng 0 lượt khen: 0 đồng" in fund.output and (tmp_path / "quy.xlsx").exists()


def test_cli_imports_persons_and_lists_them_with_history(run, world: World, tmp_path: Path) -> None:
    from tests.commendation.test_persons import workbook

    bad = workbook(tmp_path / "sai.xlsx", [["BDH.X", "A", "", "", "", ""]])
    refused = run("persons-import", str(bad))
    assert refused.exit_code == 1 and "dòng 2, cột 'Mã đơn vị': không có đơn vị mã 'BDH.X'" in refused.output
    good = workbook(
        tmp_path / "dv.xlsx",
        [["BDH.D1.1", "Nguyễn Văn An", "Tổ trưởng", 1985, "079085000001", "Đoàn viên"]],
        awards=[["079085000001", "", "", "", 2022, "bang-khen-ldld-tinh", "9/QĐ"]],
    )
    done = run("persons-import", str(good), "--campaign", "bd-2023")
    assert done.exit_code == 0 and "thêm 1, cập nhật 0" in done.output and "1 lượt khen thưởng" in done.output
    listed = run("persons", "BDH.D1")
    assert "Nguyễn Văn An" in listed.output and "bang-khen-ldld-tinh 2022" in listed.output
