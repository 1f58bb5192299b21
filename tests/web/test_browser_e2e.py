"""End to end in headless Chromium: sign in from an e-mailed link, a round report with an error fixed,
returned, resubmitted and accepted; a nomination proposed and approved up to the province, which decides;
the office dashboard showing the new figures. Screenshots: test-artifacts/screenshots/<test>/."""

from __future__ import annotations

import re
import time
from email import message_from_bytes, policy

import pytest

from tests.web.conftest import LiveServer
from tests.web.helpers import NOMINATION_NOW, eligible_for_round_two_awards
from thidua.web.auth import SESSION_COOKIE, WebSession, encode_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_for_mail(live: LiveServer, count: int, timeout: float = 15.0) -> str:
    """The plain-text body of the count-th message the SMTP sink received."""
    deadline = time.monotonic() + timeout
    while len(live.mails()) < count:
        assert time.monotonic() < deadline, "thư đăng nhập không tới máy chủ SMTP thử nghiệm"
        time.sleep(0.05)
    mail = message_from_bytes(live.mails()[count - 1].read_bytes(), policy=policy.default)
    return mail.get_body(("plain",)).get_content()


def become(page, live: LiveServer, who: str) -> None:  # noqa: ANN001
    """Switch the browser to another person (the e-mail sign-in itself is exercised once, at the start)."""
    user = live.world.users[who]
    cookie = encode_session(
        live.world.settings,
        WebSession(
            sid=f"e2e-{who}-{time.monotonic_ns()}", issued_at=live.world.now(), user_id=user.id, email=user.email
        ),
    )
    page.context.clear_cookies()
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live.url}])


def cells(page, selector: str) -> list[list[str]]:  # noqa: ANN001
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
    )


def test_report_and_nomination_end_to_end(live_server: LiveServer, page, screenshot) -> None:  # noqa: ANN001
    live, world = live_server, live_server.world
    officer = world.users["officer_d1_1"]
    report = world.assignment_id("BDH.D1.1", "so-ket-dot-1")

    # --- Sign in from the e-mailed link ---------------------------------------------------------------
    page.goto(f"{live.url}/dang-nhap")
    page.fill("#email", officer.email)
    page.click("button:has-text('Gửi liên kết đăng nhập')")
    page.wait_for_selector("text=Hãy kiểm tra hộp thư")
    screenshot(page, "da-gui-lien-ket")
    link = re.search(r"http://127\.0\.0\.1:\d+/dang-nhap/lien-ket\?t=\S+", wait_for_mail(live, 1)).group(0)
    page.goto(link)
    screenshot(page, "xac-nhan-dang-nhap")
    page.click("#xac-nhan")
    page.wait_for_url(f"{live.url}/don-vi")
    assert "còn 5 ngày" in page.inner_text("#nghia-vu")
    screenshot(page, "nghia-vu-cua-don-vi")

    # --- A round report: one error, fixed ------------------------------------------------------------
    page.click("text=Báo cáo sơ kết đợt 1")
    page.fill("#f-so_sang_kien", "mười hai")
    page.fill("#f-so_doan_vien_moi", "1.250")
    page.fill("#f-gia_tri_lam_loi", "15,5")
    page.click("#bieu-mau button[type=submit]")
    assert "Phải là số nguyên" in page.inner_text("#e-so_sang_kien")
    assert page.input_value("#f-so_sang_kien") == "mười hai" and page.input_value("#f-gia_tri_lam_loi") == "15,5"
    screenshot(page, "bao-cao-co-loi")
    page.fill("#f-so_sang_kien", "12")
    page.click("#bieu-mau button[type=submit]")
    page.wait_for_selector("text=Đã gửi. Đơn vị cấp trên sẽ xem xét")
    assert page.inner_text("#tinh-trang") == "Đã gửi (chờ duyệt)"
    screenshot(page, "bao-cao-da-gui")

    # --- The district returns it, the unit resubmits, the district accepts ---------------------------
    become(page, live, "reviewer_d1")
    page.goto(f"{live.url}/duyet")
    assert "CĐCS Đơn vị Mẫu 1-1" in page.inner_text("#hang-doi")
    screenshot(page, "hang-doi-duyet")
    page.click("#hang-doi a:has-text('CĐCS Đơn vị Mẫu 1-1')")
    page.fill("#y_kien", "Số đoàn viên mới chưa khớp sổ theo dõi, đề nghị kiểm tra lại.")
    page.click("#form-tra-lai button")
    page.wait_for_selector("text=Đã trả lại kèm ý kiến")
    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/nghia-vu/{report}")
    assert "chưa khớp sổ theo dõi" in page.inner_text("#lich-su")
    assert page.input_value("#f-so_doan_vien_moi") == "1.250"
    screenshot(page, "bao-cao-bi-tra-lai")
    page.fill("#f-so_doan_vien_moi", "125")
    page.click("#bieu-mau button[type=submit]")
    page.wait_for_selector("text=Đã gửi. Đơn vị cấp trên sẽ xem xét")
    become(page, live, "reviewer_d1")
    page.goto(f"{live.url}/duyet/bai-nop/{report}")
    page.click("#form-duyet button")
    page.wait_for_selector("text=Đã duyệt.")
    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/nghia-vu/{report}")
    assert page.inner_text("#tinh-trang") == "Đã duyệt"
    screenshot(page, "bao-cao-da-duyet")

    # --- October: a nomination from the CĐCS, through its district, decided by the province ---------
    world.clock[0] = NOMINATION_NOW
    eligible_for_round_two_awards(world)
    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/khen-thuong/moi")
    page.select_option("#giai_thuong", "bang-khen-ldld-tinh-chuyen-de")
    page.check("input[name=doi_tuong][value=collective]")
    page.select_option("#dip", "round")
    page.select_option("#dot", "2")
    page.fill("#chuyen_de", "Chương trình 01 triệu sáng kiến")
    page.fill("#thanh_tich", "Có 4 sáng kiến được công nhận trong đợt 2, làm lợi 15,5 triệu đồng.")
    page.fill("#hs_bao-cao-thanh-tich", "05/BC-CĐCS")
    page.fill("#hs_bien-ban-hoi-dong", "03/BB-CĐCS")
    page.fill("#hs_bien-ban-hoi-dong_dong_y", "9")
    page.fill("#hs_bien-ban-hoi-dong_tong", "11")
    screenshot(page, "lap-de-nghi")
    page.click("#de-nghi-moi button[type=submit]")
    page.wait_for_selector("text=Đã ghi đề nghị khen thưởng")
    nomination_url = page.url.split("?")[0]
    page.goto(f"{live.url}/don-vi/khen-thuong")
    page.fill("input[name=so_to_trinh]", "12/TTr-CĐCS")
    page.fill("input[name=ngay_to_trinh]", "05/10/2023")
    page.click("form[id^=gui-danh-sach] button")
    page.wait_for_selector("text=Đã gửi danh sách đề nghị lên cấp trên")
    assert "Đang xét" in page.inner_text("#de-nghi")
    screenshot(page, "de-nghi-da-gui")

    become(page, live, "reviewer_d1")
    page.goto(f"{live.url}/duyet")
    page.click("#de-nghi-cho-xet a")
    page.click("#form-chuyen button")
    page.wait_for_selector("text=Đã duyệt; đề nghị nằm trong danh sách chờ gửi cấp trên")
    page.goto(f"{live.url}/duyet")
    page.fill("input[name=so_to_trinh]", "20/TTr-LĐLĐ")
    page.fill("input[name=ngay_to_trinh]", "05/10/2023")
    page.click("form[id^=gui-danh-sach] button")
    page.wait_for_url(re.compile(r".*/don-vi/khen-thuong\?tb=da-gui-danh-sach"))

    become(page, live, "reviewer_bdh")
    page.goto(nomination_url)
    page.fill("#so_quyet_dinh", "150/QĐ-LĐLĐ")
    page.fill("#ngay_quyet_dinh", "05/10/2023")
    page.click("#form-quyet-dinh button")
    assert "Cần người ký" in page.inner_text("#e-nguoi_ky")
    assert page.input_value("#so_quyet_dinh") == "150/QĐ-LĐLĐ"
    page.fill("#nguoi_ky", "Nguyễn Văn A")
    page.click("#form-quyet-dinh button")
    page.wait_for_selector("text=Đã ghi quyết định khen thưởng")
    assert "Đã có quyết định khen thưởng" in page.inner_text("#tinh-trang")
    screenshot(page, "quyet-dinh-khen-thuong")

    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/khen-thuong")
    assert "QĐ 150/QĐ-LĐLĐ ngày 05/10/2023" in page.inner_text("#de-nghi")

    # --- The office sees the new figures --------------------------------------------------------------
    become(page, live, "office")
    page.goto(f"{live.url}/van-phong")
    by_obligation = {row[0]: row for row in cells(page, "#theo-nghia-vu")}
    round_one = by_obligation["Báo cáo sơ kết đợt 1"]
    assert round_one[1:5] == ["8", "1", "12,5 %", "1"]  # owing, sent, % sent, accepted
    assert by_obligation["Báo cáo sơ kết đợt 2"][1:5] == ["8", "1", "12,5 %", "1"]
    headers = page.eval_on_selector_all("#khen-thuong-theo-cap thead th", "ths => ths.map(t => t.innerText.trim())")
    pipeline = [dict(zip(headers, row)) for row in cells(page, "#khen-thuong-theo-cap")]
    assert pipeline == [
        {**{h: "0" for h in headers}, "Đang ở cấp": "LĐLĐ tỉnh", "Đã có quyết định khen thưởng": "1", "Tổng": "1"}
    ]
    assert page.locator("figure.hchart").count() == 3  # one chart per target
    screenshot(page, "toan-canh-van-phong")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "toan-canh-van-phong-may-tinh")
