"""config/documents/van-ban.yaml: letterhead, number, signer and recipients per campaign or issuing unit, and the
Word template the office edits; a mistake names the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from docx import Document

from thidua.services.documents import (
    DocumentSettingsError,
    column_widths,
    load_document_settings,
    placeholders,
    render_report,
)
from thidua.services.reports import ReportContent, Section, Table
from thidua.settings import CONFIG_DIR


def settings_folder(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "cau-hinh"
    (folder / "documents").mkdir(parents=True)
    shutil.copy(CONFIG_DIR / "documents" / "bao-cao.docx", folder / "documents" / "bao-cao.docx")
    (folder / "documents" / "van-ban.yaml").write_text(text, encoding="utf-8")
    return folder


def test_campaign_overrides_unit_overrides_defaults(tmp_path: Path) -> None:
    folder = settings_folder(
        tmp_path,
        """
mac_dinh: {quyen_han: "TM. BAN THƯỜNG VỤ", chuc_vu: "CHỦ TỊCH", so_ky_hieu: "  /BC-LĐLĐ"}
don_vi:
  BDH: {co_quan_ban_hanh: "LĐLĐ TỈNH BÌNH ĐỊNH", chuc_vu: "PHÓ CHỦ TỊCH"}
chien_dich:
  bd-2023: {nguoi_ky: "Nguyễn Văn Mẫu", noi_nhan: ["- Như trên;", "- Lưu: VT."]}
""",
    )
    settings, _ = load_document_settings(folder, campaign_code="bd-2023", issuer_code="BDH")
    assert (settings.issuing_body, settings.signer_title, settings.signer_name) == (
        "LĐLĐ TỈNH BÌNH ĐỊNH",
        "PHÓ CHỦ TỊCH",
        "Nguyễn Văn Mẫu",
    )
    assert settings.recipients == ["- Như trên;", "- Lưu: VT."]
    other, _ = load_document_settings(folder, campaign_code="khac", issuer_code="BDH.D1")
    assert (other.signer_title, other.signer_name, other.recipients) == ("CHỦ TỊCH", "", [])


def test_a_wrong_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    folder = settings_folder(tmp_path, "chien_dich:\n  bd-2023: {nguoi_kyy: Ai}\n")
    with pytest.raises(
        DocumentSettingsError, match=r"van-ban.yaml: chien_dich.bd-2023.nguoi_kyy: khóa không dùng được"
    ):
        load_document_settings(folder, campaign_code="bd-2023", issuer_code="BDH")


@pytest.mark.parametrize("text", ["don_vi: [BDH]\n", "chien_dich: bd-2023\n"])
def test_a_section_written_as_a_list_or_a_word_is_refused_by_name(tmp_path: Path, text: str) -> None:
    """It used to stop the report with an AttributeError ('list' object has no attribute 'get')."""
    folder = settings_folder(tmp_path, text)
    with pytest.raises(DocumentSettingsError, match="phải là một nhóm khóa"):
        load_document_settings(folder, campaign_code="bd-2023", issuer_code="BDH")


def test_the_office_template_is_used_and_filled(tmp_path: Path) -> None:
    folder = settings_folder(tmp_path, "chien_dich:\n  x: {nguoi_ky: Trần Thị Ký, so_ky_hieu: 15/BC-LĐLĐ}\n")
    template = folder / "documents" / "bao-cao.docx"
    assert {"superior_body", "issuing_body", "number", "place_and_date", "summary", "signer_name"} <= placeholders(
        template
    )
    edited = Document(str(template))  # the office adds a line of its own to the letterhead, as in Word
    edited.tables[0].cell(1, 0).add_paragraph("Văn phòng: 0256 3822 xxx")
    edited.save(str(template))
    table = Table(title="Bảng", headers=["STT", "Đơn vị", "Số"], rows=[[1, "A & B <C>", 1192]])
    content = ReportContent(
        file_stem="x",
        issuing_lines=("TỔNG LĐLĐ VIỆT NAM", "LĐLĐ TỈNH X"),
        place="X",
        year=2023,
        title="BÁO CÁO",
        subtitle="Thử",
        as_of="",
        intro="Mở đầu.",
        sections=[Section("I. MỘT", ["Đoạn một."], [table])],
        sheets=[],
        recipients=["- Lưu: VT."],
        signature=[],
        campaign_code="x",
        issuer_code="X",
    )
    document = Document(str(render_report(content, tmp_path / "x.docx", config_dir=folder)))
    assert "Văn phòng: 0256 3822 xxx" in document.tables[0].cell(1, 0).text
    assert "Số: 15/BC-LĐLĐ" in document.tables[0].cell(1, 0).text
    assert document.tables[-1].cell(0, 1).text.strip().endswith("Trần Thị Ký")
    assert [c.text for c in document.tables[1].rows[1].cells] == ["1", "A & B <C>", "1.192"]  # escaped, then shown
    assert not any("{{" in p.text or "{%" in p.text for p in document.paragraphs)


def test_columns_follow_their_content() -> None:
    widths = column_widths(
        ["STT", "Đơn vị", "Phải nộp", "Tỷ lệ (%)"],
        [[1, "Công đoàn ngành Giao thông vận tải tỉnh Bình Định", 1192, 92.3]],
        font_pt=11,
    )
    assert abs(sum(widths) - 16.5) < 0.01
    assert widths[1] == max(widths) and widths[0] == min(widths)
    assert widths[0] >= 3 * 0.025 * 11 + 0.45 - 1e-9  # "STT" on one line
