"""The campaign commands as a user runs them: exit codes, Vietnamese messages, never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.conftest import BINH_DINH_CAMPAIGN, CONFIG
from thidua.cli.main import app
from thidua.settings import get_settings

HERE = __import__("pathlib").Path(__file__).parent


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("THIDUA_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("THIDUA_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, [str(a) for a in args])
    get_settings.cache_clear()


def test_validate_reports_every_problem_with_file_and_line(cli):
    good = cli(
        "validate", BINH_DINH_CAMPAIGN, CONFIG / "units" / "binh_dinh.yaml", CONFIG / "calendars" / "vn_holidays.yaml"
    )
    assert good.exit_code == 0, good.output
    assert good.output.count("hợp lệ") == 3
    broken = sorted((HERE / "broken").glob("0[3-6]_*.yaml"))
    result = cli("validate", *broken)
    assert result.exit_code == 1
    assert "Có 4 lỗi" in result.output
    assert f"{broken[0]}:50: mau_sac:" in result.output
    assert "Traceback" not in result.output
    missing = cli("validate", "khong-co.yaml")
    assert missing.exit_code == 1 and "không tìm thấy tệp" in missing.output


def test_load_show_and_dry_run(cli):
    assert cli("units", "levels").exit_code == 0
    imported = cli("units", "import", CONFIG / "units" / "binh_dinh.yaml")
    assert imported.exit_code == 0, imported.output
    dry = cli("campaign", "load", BINH_DINH_CAMPAIGN, "--dry-run")
    assert dry.exit_code == 0 and "chưa ghi gì" in dry.output
    missing = cli("campaign", "show", "bd-2023")
    assert missing.exit_code == 1 and "không có chiến dịch mã 'bd-2023'" in missing.output
    loaded = cli("campaign", "load", BINH_DINH_CAMPAIGN)
    assert loaded.exit_code == 0 and "Đã tạo chiến dịch bd-2023" in loaded.output
    again = cli("campaign", "load", BINH_DINH_CAMPAIGN)
    assert again.exit_code == 0 and "không có thay đổi" in again.output
    shown = cli("campaign", "show", "bd-2023")
    assert shown.exit_code == 0
    for expected in ("10/06/2023", "10/10/2023", "15/11/2023", "31/05/2023", "30/09/2023", "8.000 sáng kiến"):
        assert expected in shown.output
    # Issue 11 point 8: the boundary rule is stated, with the shared days it decides.
    assert "Ngày ranh giới giữa hai đợt thuộc đợt trước" in shown.output
    assert "31/05/2023 thuộc Đợt 1" in shown.output and "30/09/2023 thuộc Đợt 2" in shown.output
    broken = cli("campaign", "load", HERE / "broken" / "24_unknown_level.yaml")
    assert broken.exit_code == 1 and "không có cấp 'to_cong_doan'" in broken.output


def test_a_long_path_stays_whole_on_one_line_per_problem(cli, tmp_path):
    """An error line is copied or grepped from a log: a path deep enough to pass the 140-column width of a pipe
    must not be cut by a line break (it was: "…/lỗi.yam l:1")."""
    deep = tmp_path.joinpath(*(["thu-muc-cau-hinh-cua-ban-chinh-sach-phap-luat"] * 4))
    deep.mkdir(parents=True)
    broken = deep / "ke-hoach-thi-dua-bi-loi.yaml"
    broken.write_text((HERE / "broken" / "03_unknown_top_key.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    assert len(str(broken)) > 140
    result = cli("validate", broken)
    assert result.exit_code == 1
    problem_lines = [line for line in result.output.splitlines() if line.lstrip().startswith("•")]
    assert len(problem_lines) == 1, result.output
    assert f"• {broken}:" in problem_lines[0]


def test_levels_files_validate_and_campaigns_are_checked_against_the_levels_given_with_them(cli, tmp_path):
    """The shipped levels files are declaration files like the others; the 2025 campaign, written for the levels
    from 01/07/2025 (config/levels_2026.yaml), validates with that file and says what it lacks without it."""
    levels = cli("validate", CONFIG / "levels.yaml", CONFIG / "levels_2026.yaml")
    assert levels.exit_code == 0, levels.output
    assert levels.output.count("(danh mục cấp công đoàn) hợp lệ") == 2

    campaign_2025 = CONFIG / "campaigns" / "binh_dinh_2025.yaml"
    alone = cli("validate", campaign_2025)
    assert alone.exit_code == 1
    assert "không có cấp 'cd_cap_xa'" in alone.output
    assert "levels.yaml" in alone.output and "tong_ldld, ldld_tinh, cap_tren_truc_tiep, cdcs" in alone.output
    assert "Traceback" not in alone.output

    together = cli("validate", CONFIG / "levels_2026.yaml", campaign_2025)
    assert together.exit_code == 0, together.output
    assert f"{campaign_2025} (chiến dịch) hợp lệ" in together.output
    assert "levels_2026.yaml" in together.output  # which levels it was checked against

    duplicated = tmp_path / "levels.yaml"
    duplicated.write_text(
        "levels:\n  - {code: a, name: A}\n  - {code: b, name: B}\n  - {code: a, name: A lần nữa}\n", encoding="utf-8"
    )
    bad = cli("validate", duplicated)
    assert bad.exit_code == 1 and f"{duplicated}:4" in bad.output and "mã cấp 'a' bị trùng" in bad.output


def test_every_declaration_file_shipped_in_config_validates(cli, tmp_path):
    """Cụm/khối thi đua, văn bản khen thưởng and the report letterheads are declaration files like the others:
    `thidua validate` recognises them, and a broken copy gets a Vietnamese error that names the file."""
    shipped = {
        CONFIG / "clusters" / "binh_dinh.yaml": "cụm, khối thi đua",
        CONFIG / "commendation.yaml": "văn bản khen thưởng",
        CONFIG / "documents" / "van-ban.yaml": "đầu văn bản báo cáo",
    }
    result = cli("validate", *shipped)
    assert result.exit_code == 0, result.output
    for path, kind in shipped.items():
        assert f"{path} ({kind}) hợp lệ" in result.output

    clusters = tmp_path / "cum.yaml"
    clusters.write_text("clusters:\n  - {code: C1, name: Cụm 1, kind: cụm, year: 2023, members: [A], mau: x}\n")
    commendation = tmp_path / "commendation.yaml"
    original = (CONFIG / "commendation.yaml").read_text(encoding="utf-8")
    commendation.write_text(original.replace("level_symbols:", "level_symbol:", 1), encoding="utf-8")
    documents = tmp_path / "documents" / "van-ban.yaml"
    documents.parent.mkdir()
    documents.write_text("mac_dinh:\n  mau: khong-co.docx\nchien_dich:\n  bd-2023:\n    nguoi_ki: A\n")
    broken = cli("validate", clusters, commendation, documents)
    assert broken.exit_code == 1 and "Traceback" not in broken.output
    assert f"{clusters}:2: clusters[0].mau: khóa không được phép" in broken.output
    assert f"{commendation}:" in broken.output and "level_symbol" in broken.output
    assert f"{documents}: " in broken.output and "chien_dich.bd-2023.nguoi_ki: khóa không dùng được" in broken.output
    assert "không có mẫu Word 'khong-co.docx'" in broken.output
    listed = tmp_path / "list" / "van-ban.yaml"
    listed.parent.mkdir()
    listed.write_text("don_vi: [BDH]\n")
    wrong_shape = cli("validate", listed)
    assert wrong_shape.exit_code == 1 and "don_vi phải là một nhóm khóa" in wrong_shape.output
    assert "Traceback" not in wrong_shape.output


def test_validating_a_unit_file_leaves_the_stored_levels_as_they_are(cli):
    """`validate` checks; it used to load config/levels.yaml over the levels in force first, which silently dropped
    a level the office had added (cd_cap_xa from config/levels_2026.yaml)."""
    assert cli("units", "levels", CONFIG / "levels_2026.yaml").exit_code == 0
    result = cli("validate", CONFIG / "units" / "binh_dinh.yaml")
    assert result.exit_code == 0, result.output
    from sqlalchemy import create_engine, text

    engine = create_engine(get_settings().db_url)
    with engine.connect() as conn:
        codes = [row[0] for row in conn.execute(text("SELECT code FROM level ORDER BY rank"))]
    engine.dispose()
    assert codes == ["tong_ldld", "ldld_tinh", "cap_tren_truc_tiep", "cd_cap_xa", "cdcs"]
