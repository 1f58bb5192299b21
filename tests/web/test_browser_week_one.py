"""Issue 11, the week-one walk in headless Chromium with a fixed clock and real e-mailed links: a unit submits a
report with an error, fixes it, is returned, opens the return e-mail's link, resubmits and is accepted; a unit
proposes and sends its list and is no longer chased; a district opens its progress page; the office opens the
Monday dashboard. Every step is photographed at 1366×768 and 390×844 under test-artifacts/screenshots/."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest

from tests.web.conftest import LiveServer
from tests.web.helpers import eligible_for_round_two_awards
from thidua.services import reminders as reminder_service
from thidua.web.auth import SESSION_COOKIE, WebSession, encode_session

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIZES = {"may-tinh": {"width": 1366, "height": 768}, "dien-thoai": {"width": 390, "height": 844}}
# Monday 05/06/2023 10:00 and Thursday 05/10/2023 10:00 in Bình Định.
JUNE_MONDAY = datetime(2023, 6, 5, 3, 0, tzinfo=timezone.utc)
OCTOBER = datetime(2023, 10, 5, 3, 0, tzinfo=timezone.utc)


def mail_to(live: LiveServer, recipient: str, subject_part: str, timeout: float = 20.0) -> str:
    """The plain text of the first message to `recipient` whose subject contains `subject_part`."""
    deadline = time.monotonic() + timeout
    while True:
        for path in live.mails():
            mail = message_from_bytes(path.read_bytes(), policy=policy.default)
            if recipient in str(mail["To"]) and subject_part in str(mail["Subject"]):
                return mail.get_body(("plain",)).get_content()
        assert time.monotonic() < deadline, f"không có thư '{subject_part}' gửi {recipient}"
        time.sleep(0.1)


def become(page, live: LiveServer, who: str) -> None:  # noqa: ANN001
    user = live.world.users[who]
    cookie = encode_session(live.world.settings, WebSession(sid=f"w1-{who}-{time.monotonic_ns()}",
                                                            issued_at=live.world.now(), user_id=user.id, email=user.email))
    page.context.clear_cookies()
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live.url}])


def test_week_one_walk(live_server: LiveServer, page, screenshot) -> None:  # noqa: ANN001
    live, world = live_server, live_server.world
    world.clock[0] = JUNE_MONDAY

    def shots(name: str) -> None:
        for label, size in SIZES.items():
            page.set_viewport_size(size)
            screenshot(page, f"{name}-{label}")
        page.set_viewport_size(SIZES["dien-thoai"])

    officer = world.users["officer_d1_1"]
    report = world.assignment_id("BDH.D1.1", "so-ket-dot-1")

    # --- A report with an error, fixed and sent --------------------------------------------------------
    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/nghia-vu/{report}")
    page.fill("#f-so_sang_kien", "mười hai")
    page.fill("#f-so_doan_vien_moi", "1.250")
    page.click("#bieu-mau button[type=submit]")
    assert "Phải là số nguyên" in page.inner_text("#e-so_sang_kien")
    shots("bao-cao-co-loi")
    page.fill("#f-so_sang_kien", "12")
    page.click("#bieu-mau button[type=submit]")
    page.wait_for_selector("text=Đã gửi. Đơn vị cấp trên sẽ xem xét")

    # --- The district returns it; the unit receives the e-mail and follows its link ---------------------
    become(page, live, "reviewer_d1")
    page.goto(f"{live.url}/duyet")
    assert "CĐCS Đơn vị Mẫu 1-1" in page.inner_text("#hang-doi")
    shots("hang-doi-duyet")
    page.goto(f"{live.url}/duyet/bai-nop/{report}")
    page.fill("#y_kien", "Số đoàn viên mới chưa khớp sổ theo dõi, đề nghị kiểm tra lại.")
    page.click("#form-tra-lai button")
    page.wait_for_selector("text=Đã trả lại kèm ý kiến")
    text = mail_to(live, officer.email, "Báo cáo bị trả lại")
    assert "chưa khớp sổ theo dõi" in text and "LĐLĐ huyện Thử Nghiệm 1" in text
    link = re.search(r"http://127\.0\.0\.1:\d+/don-vi/nghia-vu/\d+\?t=\S+", text).group(0)
    page.context.clear_cookies()
    page.goto(link)
    page.click("#xac-nhan")
    page.wait_for_url(f"{live.url}/don-vi/nghia-vu/{report}")
    top = page.inner_text("#y-kien-tra-lai")
    assert "chưa khớp sổ theo dõi" in top
    assert page.input_value("#f-so_doan_vien_moi") == "1.250"
    shots("bao-cao-bi-tra-lai-tu-thu")
    page.fill("#f-so_doan_vien_moi", "125")
    page.click("#bieu-mau button[type=submit]")
    page.wait_for_selector("text=Đã gửi. Đơn vị cấp trên sẽ xem xét")
    assert "(bản 2)" in page.inner_text("#gui-lan-cuoi")
    become(page, live, "reviewer_d1")
    page.goto(f"{live.url}/duyet/bai-nop/{report}")
    page.click("#form-duyet button")
    page.wait_for_selector("text=Đã duyệt.")
    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/nghia-vu/{report}")
    assert page.inner_text("#tinh-trang") == "Đã duyệt"
    shots("bao-cao-da-duyet")

    # --- October: the unit proposes, sends its list, and is no longer chased ----------------------------
    world.clock[0] = OCTOBER
    eligible_for_round_two_awards(world)
    window = world.assignment_id("BDH.D1.1", "de-xuat-khen-thuong-dot-2")
    chased = {u.code for b in reminder_service.preview(world.engine, "bd-2023", now=OCTOBER, days=20).batches
              if b.obligation_code == "de-xuat-khen-thuong-dot-2" for u in b.units}
    assert "BDH.D1.1" in chased
    become(page, live, "officer_d1_1")  # a session of October
    page.goto(f"{live.url}/don-vi/nghia-vu/{window}")
    assert page.inner_text("#tinh-trang") == "Chưa gửi"
    page.click("text=Lập đề nghị khen thưởng")
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
    page.click("#de-nghi-moi button[type=submit]")
    page.wait_for_selector("text=Đã ghi đề nghị khen thưởng")
    page.goto(f"{live.url}/don-vi/khen-thuong")
    page.fill("input[name=so_to_trinh]", "12/TTr-CĐCS")
    page.fill("input[name=ngay_to_trinh]", "05/10/2023")
    page.click("form[id^=gui-danh-sach] button")
    page.wait_for_selector("text=nghĩa vụ đề xuất khen thưởng của đơn vị đã hoàn thành")
    shots("danh-sach-da-gui")
    page.goto(f"{live.url}/don-vi/nghia-vu/{window}")
    assert page.inner_text("#tinh-trang") == "Đã duyệt"
    assert "tờ trình số 12/TTr-CĐCS" in page.inner_text("#de-xuat")
    shots("nghia-vu-de-xuat-hoan-thanh")
    chased = {u.code for b in reminder_service.preview(world.engine, "bd-2023", now=OCTOBER, days=20).batches
              if b.obligation_code == "de-xuat-khen-thuong-dot-2" for u in b.units}
    assert "BDH.D1.1" not in chased and "BDH.D1.2" in chased

    # --- The district's progress page ------------------------------------------------------------------
    become(page, live, "reviewer_d1")
    page.goto(f"{live.url}/tien-do?nghia_vu=so-ket-dot-1")
    units = [r[0] for r in page.eval_on_selector_all(
        "#theo-huyen tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")]
    assert units == ["CĐCS Đơn vị Mẫu 1-1 (giả lập)", "CĐCS Đơn vị Mẫu 1-2 (giả lập)", "CĐCS Đơn vị Mẫu 1-3 (giả lập)"]
    assert "CĐCS Đơn vị Mẫu 1-2" in page.inner_text("#danh-sach-tre")
    shots("tien-do-huyen")

    # --- The office on Monday -----------------------------------------------------------------------------
    world.clock[0] = datetime(2023, 10, 9, 1, 0, tzinfo=timezone.utc)  # Monday 09/10/2023 08:00
    become(page, live, "office")
    page.goto(f"{live.url}/van-phong")
    assert page.locator("#theo-nghia-vu").count() == 1
    shots("toan-canh-thu-hai")
