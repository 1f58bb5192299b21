"""In headless Chromium: a person of the register nominated by a CĐCS with an evidence file, forwarded by the
district, published by the province, voted by its council (minutes), decided with a number, and the
certificate PDF downloaded by the CĐCS. Screenshots: test-artifacts/screenshots/<test>/."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.commendation.test_persons import workbook
from tests.web.conftest import LiveServer
from tests.web.helpers import NOMINATION_NOW, eligible_for_round_two_awards
from tests.web.test_browser_e2e import become
from tests.web.test_evidence_pages import PDF
from thidua.services.commendation import persons

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_persons_nomination_from_cdcs_to_the_councils_decision_and_certificate(
    live_server: LiveServer, page, screenshot, tmp_path: Path
) -> None:  # noqa: ANN001
    live, world = live_server, live_server.world
    persons.import_persons(
        world.engine,
        workbook(
            tmp_path / "doan-vien.xlsx",
            [["BDH.D1.1", "Nguyễn Thị Hạnh", "Tổ trưởng công đoàn", 1986, "079186000123", "Đoàn viên"]],
        ),
        actor="test",
    )
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)

    # --- The CĐCS proposes its member, chosen from the register, and attaches the report -----------------
    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/khen-thuong/moi")
    page.select_option("#giai_thuong", "bang-khen-ldld-tinh-chuyen-de")
    page.check("input[name=doi_tuong][value=individual]")
    page.select_option("#nguoi", label="Nguyễn Thị Hạnh (1986) – Tổ trưởng công đoàn, CĐCS Đơn vị Mẫu 1-1 (giả lập)")
    page.select_option("#dip", "round")
    page.select_option("#dot", "2")
    page.fill("#chuyen_de", "Chương trình 01 triệu sáng kiến")
    page.fill("#thanh_tich", "Hai sáng kiến được công nhận trong đợt 2.")
    page.fill("#hs_bao-cao-thanh-tich", "05/BC-CĐCS")
    page.fill("#hs_bien-ban-hoi-dong", "03/BB-CĐCS")
    page.fill("#hs_bien-ban-hoi-dong_dong_y", "9")
    page.fill("#hs_bien-ban-hoi-dong_tong", "11")
    page.click("#de-nghi-moi button[type=submit]")
    page.wait_for_selector("text=Đã ghi đề nghị khen thưởng")
    nomination_url = page.url.split("?")[0]
    report = tmp_path / "Báo cáo thành tích Nguyễn Thị Hạnh.pdf"
    report.write_bytes(PDF)
    page.select_option("#muc", "bao-cao-thanh-tich")
    page.set_input_files("#tep", str(report))
    page.click("#form-minh-chung button")
    page.wait_for_selector("text=Đã đính kèm tệp minh chứng")
    assert "Báo cáo thành tích Nguyễn Thị Hạnh.pdf" in page.inner_text("#minh-chung")
    screenshot(page, "de-nghi-kem-minh-chung")
    page.goto(f"{live.url}/don-vi/khen-thuong")
    page.fill("input[name=so_to_trinh]", "12/TTr-CĐCS")
    page.fill("input[name=ngay_to_trinh]", "05/10/2023")
    page.click("form[id^=gui-danh-sach] button")
    page.wait_for_selector("text=Đã gửi danh sách đề nghị lên cấp trên")

    # --- The district forwards it to the province ---------------------------------------------------------
    become(page, live, "reviewer_d1")
    page.goto(nomination_url)
    page.click("#form-chuyen button")
    page.wait_for_selector("text=Đã duyệt; đề nghị nằm trong danh sách chờ gửi cấp trên")
    page.goto(f"{live.url}/duyet")
    page.fill("input[name=so_to_trinh]", "20/TTr-LĐLĐ")
    page.fill("input[name=ngay_to_trinh]", "05/10/2023")
    page.click("form[id^=gui-danh-sach] button")
    page.wait_for_url(re.compile(r".*/don-vi/khen-thuong\?tb=da-gui-danh-sach"))

    # --- The province publishes the list for 2 days and convenes its council -------------------------------
    become(page, live, "reviewer_bdh")
    page.goto(f"{live.url}/khen-thuong/quyet-dinh")
    assert "Nguyễn Thị Hạnh" in page.inner_text("#cho-quyet-dinh")
    page.fill("#so_ngay", "2")
    page.click("#nut-cong-khai")
    page.wait_for_selector("#danh-sach-cong-khai")
    assert "Đang nhận ý kiến" in page.inner_text("#tinh-trang-cong-khai")
    screenshot(page, "trang-cong-khai")
    page.goto(f"{live.url}/khen-thuong/quyet-dinh")
    page.fill("#ngay_hop", "05/10/2023")
    page.fill(
        "#thanh_vien",
        "Nguyễn Văn Bình | Chủ tịch Hội đồng\nTrần Thị Cúc | Phó Chủ tịch\nLê Văn Dũng\n"
        "Võ Văn Phong | Thư ký\nPhạm Thị Em",
    )
    page.click("#nut-hoi-dong")
    page.wait_for_selector("#chuong-trinh")
    council_url = page.url.split("?")[0]
    for member, vote in (
        ("Nguyễn Văn Bình", "for"),
        ("Trần Thị Cúc", "for"),
        ("Lê Văn Dũng", "for"),
        ("Võ Văn Phong", "against"),
        ("Phạm Thị Em", "abstain"),
    ):
        page.select_option(f"select[aria-label='Phiếu của {member}']", vote)
    page.click("#nut-ghi-phieu")
    page.wait_for_selector("text=Đã ghi.")
    screenshot(page, "hoi-dong-bieu-quyet")
    page.click("#nut-ket-thuc")
    page.wait_for_selector("text=Đã kết thúc")
    assert "Đạt (3 đồng ý)" in page.inner_text("#chuong-trinh")
    with page.expect_download() as minutes:
        page.click("#tai-bien-ban")
    assert minutes.value.suggested_filename == "bien-ban-hoi-dong-1-BB-LĐLĐ.docx"
    screenshot(page, "hoi-dong-ket-thuc")

    # --- Before the window closes the decision is refused; afterwards it is numbered -----------------------
    page.fill("#ngay_ky", "05/10/2023")
    page.fill("#nguoi_ky", "Nguyễn Văn Bình")
    page.click("#nut-quyet-dinh")
    assert "Đang công khai đến hết ngày 06/10/2023" in page.inner_text("main")
    world.clock[0] = NOMINATION_NOW + timedelta(days=2)
    become(page, live, "reviewer_bdh")
    page.goto(council_url)
    page.fill("#ngay_ky", "07/10/2023")
    page.fill("#nguoi_ky", "Nguyễn Văn Bình")
    page.click("#nut-quyet-dinh")
    page.wait_for_selector("text=Đã ghi quyết định khen thưởng")
    assert "Quyết định số 1/QĐ-LĐLĐ" in page.inner_text("h1")
    assert "1.800.000 đồng" in page.inner_text("#tong-tien")
    screenshot(page, "quyet-dinh-co-so")

    # --- The CĐCS downloads its member's certificate -------------------------------------------------------
    become(page, live, "officer_d1_1")
    page.goto(nomination_url)
    assert "Số 1/QĐ-LĐLĐ ngày 07/10/2023" in page.inner_text("#quyet-dinh-khen-thuong")
    with page.expect_download() as certificate:
        page.click("#tai-giay-khen")
    saved = tmp_path / "giay-khen.pdf"
    certificate.value.save_as(str(saved))
    from pypdf import PdfReader

    text = PdfReader(str(saved)).pages[0].extract_text()
    assert "Ông/Bà Nguyễn Thị Hạnh" in text and "Quyết định số 1/QĐ-LĐLĐ ngày 07/10/2023" in text
    screenshot(page, "giay-khen-da-tai")
