"""Round and year-end reports: XLSX values per level, DOCX laid out as an administrative document."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from docx import Document
from openpyxl import load_workbook

from tests.submissions.conftest import CODE, load_binh_dinh, vn
from thidua.db import session_scope
from thidua.services.reports import (
    build_final_report,
    build_round_report,
    department_abbreviation,
    place_name,
    short_body_name,
)
from thidua.services.submissions import review_report, submit_report

ROUND1 = "so-ket-dot-1"
# unit -> (what it does, so_sang_kien it finally reports)
SCENARIO = {
    "BDH.D1.1": ("on_time", 10),
    "BDH.D1.2": ("late", 7),
    "BDH.D1.3": ("returned", 7),
    "BDH.D2": ("on_time", 2),
    "BDH.D2.1": ("on_time", 5),
    "BDH.D2.2": ("pending", 4),
}
NEVER = {"BDH.D1", "BDH.D2.3"}


def parent_of(code: str) -> str:
    return code.rsplit(".", 1)[0]


def act(engine, unit: str, obligation: str, data: dict, when, accept: bool | None = True, rating: str | None = None):
    with session_scope(engine) as session:
        submit_report(
            session, campaign_code=CODE, obligation_code=obligation, unit_code=unit, raw=data, actor=unit, now=when
        )
    if accept is not None:
        with session_scope(engine) as session:
            review_report(
                session,
                campaign_code=CODE,
                obligation_code=obligation,
                unit_code=unit,
                reviewer_code=parent_of(unit),
                accept=accept,
                actor=parent_of(unit),
                now=when,
                comment=None if accept else "Sai số liệu",
                appraised_rating=rating,
            )


def play_round_one(loaded):
    for unit, (behaviour, initiatives) in SCENARIO.items():
        data = {"so_sang_kien": initiatives, "so_doan_vien_moi": 1}
        if behaviour == "on_time":
            act(loaded.engine, unit, ROUND1, data, vn(5, 6))
        elif behaviour == "late":
            act(loaded.engine, unit, ROUND1, data, vn(15, 6))
        elif behaviour == "returned":
            act(loaded.engine, unit, ROUND1, dict(data, so_sang_kien=10 * initiatives), vn(4, 6), accept=False)
            act(loaded.engine, unit, ROUND1, data, vn(8, 6))
        elif behaviour == "pending":
            act(loaded.engine, unit, ROUND1, data, vn(5, 6), accept=None)
    return loaded


@pytest.fixture
def round_one(loaded):
    return play_round_one(loaded)


@pytest.fixture(params=["sqlite", "postgres"])
def round_one_any(request):
    """Round 1 played on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return play_round_one(request.getfixturevalue("loaded"))
    return play_round_one(load_binh_dinh(request.getfixturevalue("pg_engine")))


def expected_initiatives(prefix: str) -> int:
    return sum(
        n
        for unit, (behaviour, n) in SCENARIO.items()
        if behaviour != "pending" and (unit == prefix or unit.startswith(prefix + "."))
    )


def sheet_rows(sheet) -> list[dict[str, object]]:
    """Rows under the header row (row 5) as {header: value}."""
    headers = [c.value for c in sheet[5]]
    return [dict(zip(headers, (c.value for c in row))) for row in sheet.iter_rows(min_row=6)]


def test_header_names():
    assert short_body_name("Liên đoàn Lao động tỉnh Bình Định") == "LĐLĐ TỈNH BÌNH ĐỊNH"
    assert department_abbreviation("Ban Chính sách pháp luật và Quan hệ lao động") == "BAN CSPL&QHLĐ"
    assert department_abbreviation("Ban Tổ chức") == "BAN TỔ CHỨC"
    assert place_name("Liên đoàn Lao động tỉnh Bình Định") == "Bình Định"


def test_round_report_xlsx_holds_the_consolidated_values(round_one, tmp_path):
    with session_scope(round_one.engine) as session:
        files = build_round_report(session, campaign_code=CODE, round_number=1, out_dir=tmp_path, now=vn(20, 6))
    assert files.xlsx.name == "bd-2023-so-ket-dot-1.xlsx"
    workbook = load_workbook(files.xlsx)
    assert workbook.sheetnames == [
        "TH - LĐLĐ tỉnh",
        "TH - CĐ cấp trên trực tiếp",
        "BC - CĐ cấp trên trực tiếp",
        "BC - CĐCS",
        "Chưa gửi - nộp muộn",
        "Chỉ tiêu",
    ]
    [province] = sheet_rows(workbook["TH - LĐLĐ tỉnh"])
    assert province["Mã đơn vị"] == "BDH" and province["Phải báo cáo"] == 8
    assert province["Đã gửi"] == len(SCENARIO) and province["Chưa gửi"] == len(NEVER)
    assert province["Được tính"] == len(SCENARIO) - 1 and province["Chờ duyệt"] == 1 and province["Nộp muộn"] == 1
    assert province["Số sáng kiến trong đợt"] == expected_initiatives("BDH")
    districts = {r["Mã đơn vị"]: r for r in sheet_rows(workbook["TH - CĐ cấp trên trực tiếp"])}
    assert {code: r["Số sáng kiến trong đợt"] for code, r in districts.items()} == {
        "BDH.D1": expected_initiatives("BDH.D1"),
        "BDH.D2": expected_initiatives("BDH.D2"),
    }
    cdcs = {r["Mã đơn vị"]: r for r in sheet_rows(workbook["BC - CĐCS"])}
    assert cdcs["BDH.D1.3"]["Số sáng kiến trong đợt"] == 7 and cdcs["BDH.D1.3"]["Bản số"] == 2
    assert cdcs["BDH.D1.2"]["Nộp muộn"] == "có" and cdcs["BDH.D2.3"]["Trạng thái"] == "Chưa gửi"
    assert cdcs["BDH.D2.2"]["Số sáng kiến trong đợt"] is None  # waiting for review: not counted
    missing = sheet_rows(workbook["Chưa gửi - nộp muộn"])
    assert {(r["Tình trạng"], r["Mã đơn vị"]) for r in missing} == {
        ("Chưa gửi", "BDH.D1"),
        ("Chưa gửi", "BDH.D2.3"),
        ("Nộp muộn", "BDH.D1.2"),
        ("Đã gửi, chưa được tính (chờ duyệt hoặc trả lại)", "BDH.D2.2"),
    }
    targets = {(r["Mã chỉ tiêu"], r["Mã đơn vị"]): r for r in sheet_rows(workbook["Chỉ tiêu"])}
    # The 31/8 target reads the báo cáo nhanh (due 08/09), not round 1's figures: on 20/06 nothing is due for it.
    assert targets[("sang-kien-8000", "BDH")]["Đã đạt"] == 0
    assert targets[("sang-kien-8000", "BDH")]["Đánh giá"] == "Chưa đến hạn báo cáo"
    for sheet in workbook.worksheets:  # values, never formulas
        assert not any(isinstance(c.value, str) and c.value.startswith("=") for row in sheet.iter_rows() for c in row)


def test_round_report_docx_is_an_administrative_document(round_one, tmp_path):
    with session_scope(round_one.engine) as session:
        files = build_round_report(session, campaign_code=CODE, round_number=1, out_dir=tmp_path, now=vn(20, 6))
    document = Document(str(files.docx))
    header = document.tables[0]
    # The issuer is the federation that signs, under its superior body (config/documents/van-ban.yaml).
    assert header.cell(0, 0).text.strip() == "TỔNG LĐLĐ VIỆT NAM\nLĐLĐ TỈNH BÌNH ĐỊNH"
    assert header.cell(0, 1).text.strip() == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc"
    ruled = [p for cell in header.rows[0].cells for p in cell.paragraphs if p._p.xpath("./w:pPr/w:pBdr/w:top")]
    assert len(ruled) == 2  # the rules under the issuer and under the motto
    assert header.cell(1, 0).text.split() == ["Số:", "/BC-LĐLĐ"]
    assert header.cell(1, 1).text == "Bình Định, ngày 20 tháng 6 năm 2023"  # Nghị định 30: no zero before 6
    assert document.styles["Normal"].font.name == "Times New Roman"
    page_header = document.sections[0].header._element.xml
    assert "PAGE" in page_header and document.sections[0].different_first_page_header_footer
    texts = [p.text for p in document.paragraphs]
    assert "BÁO CÁO" in texts
    assert any(t.startswith("Kết quả sơ kết đợt 1 phong trào thi đua") for t in texts)
    assert "I. TÌNH HÌNH BÁO CÁO" in texts and "III. TIẾN ĐỘ THỰC HIỆN CHỈ TIÊU" in texts
    status_table, figure_table = document.tables[1], document.tables[2]
    assert [c.text for c in status_table.rows[-1].cells] == ["", "Tổng cộng", "8", "6", "5", "75", "1", "2"]
    assert figure_table.rows[0].cells[2].text == "Số sáng kiến trong đợt"
    assert figure_table.rows[-1].cells[2].text == str(expected_initiatives("BDH"))
    closing = document.tables[-1]
    assert closing.cell(0, 0).text.startswith("Nơi nhận:")
    assert "- Lưu: VT, Ban CSPL&QHLĐ." in closing.cell(0, 0).text
    assert closing.cell(0, 1).text.split("\n")[:2] == ["TM. BAN THƯỜNG VỤ", "PHÓ CHỦ TỊCH"]  # authority, then title
    assert len(document.inline_shapes) >= 1  # one picture per chart of target progress by district
    for shape in document.inline_shapes:  # each inside the printable area of A4 with the decree's margins
        assert shape.width.cm <= 16.5 and shape.height.cm <= 25.7
    captions = [t for t in texts if t.startswith("Biểu đồ ")]
    assert len(captions) == len(document.inline_shapes) and captions[0].startswith("Biểu đồ 1. ")
    assert any("CĐCS Đơn vị Mẫu 1-2 (giả lập)" in t for t in texts)  # the late unit is named


def test_final_report_with_ratings_and_year_totals(round_one_any, tmp_path):
    round_one = round_one_any
    final = {"so_sang_kien": 3, "so_doan_vien_moi": 1, "cong_trinh_hoan_thanh": True}
    act(
        round_one.engine,
        "BDH.D1.1",
        "tong-ket-nam",
        dict(final, xep_loai_de_nghi="Hoàn thành xuất sắc nhiệm vụ"),
        vn(1, 12),
        rating="Hoàn thành tốt nhiệm vụ",
    )
    act(round_one.engine, "BDH.D2.1", "tong-ket-nam", dict(final, xep_loai_de_nghi="Hoàn thành nhiệm vụ"), vn(1, 12))
    with session_scope(round_one.engine) as session:
        files = build_final_report(session, campaign_code=CODE, out_dir=tmp_path, now=vn(20, 12))
    workbook = load_workbook(files.xlsx)
    assert workbook.sheetnames[0] == "Tổng hợp năm"
    year = {r["Đơn vị"]: r for r in sheet_rows(workbook["Tổng hợp năm"])}
    assert year["Tổng cộng"]["Số sáng kiến"] == expected_initiatives("BDH") + 6
    assert year["LĐLĐ huyện Thử Nghiệm 1"]["Số sáng kiến"] == expected_initiatives("BDH.D1") + 3
    ratings = {r["Mã đơn vị"]: r for r in sheet_rows(workbook["Xếp loại"])}
    assert (
        ratings["BDH.D1.1"]["Tự đánh giá"],
        ratings["BDH.D1.1"]["Cấp trên thẩm định"],
        ratings["BDH.D1.1"]["Xếp loại năm"],
    ) == ("Hoàn thành xuất sắc nhiệm vụ", "Hoàn thành tốt nhiệm vụ", "Hoàn thành tốt nhiệm vụ")
    assert ratings["BDH.D2.1"]["Xếp loại năm"] == "Hoàn thành nhiệm vụ"
    assert ratings["BDH.D1.2"]["Xếp loại năm"] == "Chưa có"
    summary = {r["Đơn vị"]: r for r in sheet_rows(workbook["Xếp loại theo đơn vị"])}
    assert summary["Tổng cộng"]["Hoàn thành tốt nhiệm vụ"] == 1 and summary["Tổng cộng"]["Chưa có"] == 6
    document = Document(str(files.docx))
    texts = [p.text for p in document.paragraphs]
    assert any(t.startswith("Tổng kết phong trào thi đua") for t in texts) and "IV. XẾP LOẠI CUỐI NĂM" in texts
    assert document.tables[-1].cell(0, 0).text.startswith("Nơi nhận:")


def test_docx_renders_to_pdf_with_libreoffice(request, tmp_path):
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        reason = "LibreOffice (soffice) chưa được cài: bỏ qua bước chuyển DOCX sang PDF"
        print(reason)
        pytest.skip(reason)
    round_one = request.getfixturevalue("round_one")
    with session_scope(round_one.engine) as session:
        files = build_round_report(session, campaign_code=CODE, round_number=1, out_dir=tmp_path, now=vn(20, 6))
    subprocess.run(
        [soffice, "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path), str(files.docx)],
        check=True,
        timeout=180,
        capture_output=True,
    )
    pdf = tmp_path / (files.docx.stem + ".pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_final_report_after_a_merger_uses_the_year_end_structure(round_one_any, tmp_path):
    """D1 merged into D2 on 01/07/2023: the year table has D2 only, with D1's figures from before the merger,
    the total is unchanged, and a before/after table lists the change."""
    from datetime import date

    from tests.units.test_reorganisation import write_changes
    from thidua.services.reorganisation import reorganise

    engine = round_one_any.engine
    with session_scope(engine) as session:
        before = build_final_report(session, campaign_code=CODE, out_dir=tmp_path / "truoc", now=vn(1, 7))
    before_rows = {r["Đơn vị"]: r for r in sheet_rows(load_workbook(before.xlsx)["Tổng hợp năm"])}
    reorganise(
        engine,
        write_changes(tmp_path / "gop.csv", [("01/07/2023", "sap_nhap", "BDH.D1", "BDH.D2", "", "", "")]),
        today=date(2023, 7, 2),
    )
    with session_scope(engine) as session:
        files = build_final_report(session, campaign_code=CODE, out_dir=tmp_path / "sau", now=vn(20, 12))
    workbook = load_workbook(files.xlsx)
    year = {r["Đơn vị"]: r for r in sheet_rows(workbook["Tổng hợp năm"])}
    assert "LĐLĐ huyện Thử Nghiệm 1" not in year
    assert year["LĐLĐ huyện Thử Nghiệm 2"]["Số sáng kiến"] == expected_initiatives("BDH.D1") + expected_initiatives(
        "BDH.D2"
    )
    assert year["Tổng cộng"]["Số sáng kiến"] == before_rows["Tổng cộng"]["Số sáng kiến"] == expected_initiatives("BDH")
    mapping = sheet_rows(workbook["Trước - sau sắp xếp"])
    assert [(m["Ngày hiệu lực"], m["Thay đổi"], m["Trước"], m["Sau"]) for m in mapping] == [
        ("01/07/2023", "sáp nhập", "BDH.D1 — LĐLĐ huyện Thử Nghiệm 1", "BDH.D2 — LĐLĐ huyện Thử Nghiệm 2"),
        ("01/07/2023", "sáp nhập", "3 đơn vị trực thuộc BDH.D1", "trực thuộc BDH.D2 — LĐLĐ huyện Thử Nghiệm 2"),
    ]
    texts = [p.text for p in Document(str(files.docx)).paragraphs]
    assert "VI. SẮP XẾP TỔ CHỨC TRONG NĂM" in texts
