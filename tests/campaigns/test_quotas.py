"""Per-unit quotas (chỉ tiêu giao) from a spreadsheet: each breakdown unit judged against its own quota; a bad
spreadsheet is refused with file, row and column, and nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import Session

from thidua.models.spec.problems import SpecError
from thidua.services.campaigns import load_campaign
from tests.factories import small_binh_dinh

MINIMAL = Path(__file__).parent / "minimal.yaml"


def _files(tmp_path: Path, rows: list[list]) -> Path:
    (tmp_path / "quotas").mkdir()
    workbook = Workbook()
    workbook.active.append(["Mã đơn vị", "Tên đơn vị", "Chỉ tiêu"])
    for row in rows:
        workbook.active.append(row)
    workbook.save(tmp_path / "quotas" / "giao.xlsx")
    text = MINIMAL.read_text(encoding="utf-8").replace(
        "    source: {obligations: [so-ket-1], field: so_sang_kien}\n",
        "    source: {obligations: [so-ket-1], field: so_sang_kien}\n    breakdown_level: cap_tren_truc_tiep\n"
        "    quotas: quotas/giao.xlsx\n",
    )
    (tmp_path / "campaigns").mkdir()
    path = tmp_path / "campaigns" / "giao.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(engine):
    with Session(engine) as session:
        small_binh_dinh(session)
        session.commit()
    return engine


def test_bad_quota_spreadsheet_is_located(tree, tmp_path):
    path = _files(tmp_path, [["BDH.D1", "Huyện 1", "bốn mươi"], ["BDH.D9", "Không có", 10], ["BDH.D1", "Trùng", 5]])
    with pytest.raises(SpecError) as caught:
        load_campaign(tree, path)
    shown = sorted(str(p) for p in caught.value.problems)
    xlsx = tmp_path / "quotas" / "giao.xlsx"
    assert f"{xlsx}:2: Chỉ tiêu: chỉ tiêu phải là số: 'bốn mươi'" in shown
    assert any(s.startswith(f"{xlsx}:4: Mã đơn vị: đơn vị 'BDH.D1' đã có chỉ tiêu") for s in shown)
    (tmp_path / "b").mkdir()
    good = _files(tmp_path / "b", [["BDH.D1", "Huyện 1", 40], ["BDH.D9", "Không có", 10]])
    with pytest.raises(SpecError) as caught:
        load_campaign(tree, good)
    shown = [str(p) for p in caught.value.problems]
    assert (
        f"{tmp_path / 'b' / 'quotas' / 'giao.xlsx'}:3: Mã đơn vị: 'BDH.D9' không phải đơn vị cấp 'cap_tren_truc_tiep' đang hoạt động của chiến dịch"
        in shown
    )
    assert any("thiếu chỉ tiêu của đơn vị 'BDH.D2'" in s for s in shown)


def test_quota_needs_a_breakdown_level(tree, tmp_path):
    path = _files(tmp_path, [["BDH.D1", "Huyện 1", 40], ["BDH.D2", "Huyện 2", 60]])
    path.write_text(
        path.read_text(encoding="utf-8").replace("    breakdown_level: cap_tren_truc_tiep\n", ""), encoding="utf-8"
    )
    with pytest.raises(SpecError) as caught:
        load_campaign(tree, path)
    [problem] = caught.value.problems
    assert problem.field == "targets[0].quotas" and "breakdown_level" in problem.message
