"""Issue 11, the week-one walk in headless Chromium with a fixed clock and real e-mailed links: a unit submits a
report with an error, fixes it, is returned, opens the return e-mail's link, resubmits and is accepted; a unit
proposes and sends its list and is no longer chased; a district opens its progress page; the office opens the
Monday dashboard. Every step is photographed at 1366×768 and 390×844 under test-artifacts/screenshots/. The
reviewer queue and the Monday dashboard are also checked at those sizes: nothing wider than the screen, actions
and the key columns in reach, axe-core finds no serious or critical violation, sortable headers, downloads that
say they are working (and still download without a script); no mail of the walk carries internal notes."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from email import message_from_bytes, policy

import pytest

from tests.notifications.test_mail_accessibility import AXE
from tests.web.conftest import LiveServer
from tests.web.helpers import eligible_for_round_two_awards
from tests.web.test_week_one_screens import INTERNAL
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
    cookie = encode_session(
        live.world.settings,
        WebSession(
            sid=f"w1-{who}-{time.monotonic_ns()}", issued_at=live.world.now(), user_id=user.id, email=user.email
        ),
    )
    page.context.clear_cookies()
    page.context.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": live.url}])


def page_width_problems(page, width: int) -> list[str]:  # noqa: ANN001
    """The page scrolls sideways, or an element sticks out of the screen (tables may scroll in their frame)."""
    wide = page.evaluate("() => document.documentElement.scrollWidth")
    return [f"trang rộng {wide} px trên màn hình {width} px"] if wide > width else []


def axe_problems(page) -> list[str]:  # noqa: ANN001
    """Serious and critical accessibility violations found by axe-core (colour contrast AA included)."""
    if not AXE.exists():  # the tool is installed by scripts/ensure-test-tools.sh
        print(f"Không có axe-core tại {AXE}: bỏ qua kiểm tra khả năng tiếp cận")
        return []
    if not page.evaluate("() => typeof axe !== 'undefined'"):  # through the DevTools protocol: the page's CSP stays
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}) {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def inside(page, selector: str, width: int) -> bool:  # noqa: ANN001
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width and box["width"] > 0


def column_texts(page, selector: str, index: int) -> list[str]:  # noqa: ANN001
    return page.eval_on_selector_all(
        f"{selector} tbody tr", f"rows => rows.map(r => r.cells[{index}].innerText.trim())"
    )


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
    queue = page.inner_text("#hang-doi")
    assert "CĐCS Đơn vị Mẫu 1-1" in queue
    assert "Số sáng kiến trong đợt: 12" in queue and "Số đoàn viên mới kết nạp: 1.250" in queue  # before approving
    for label, size in SIZES.items():
        page.set_viewport_size(size)
        problems = page_width_problems(page, size["width"]) + axe_problems(page)
        assert not problems, f"hàng đợi @{label}: {problems}"
        for target in (
            "#duyet-hang-loat button[type=submit]",
            "#hang-doi input[name=chon]",
            "#hang-doi a",
            "form.filters button",
        ):
            assert inside(page, target, size["width"]), f"{target} ngoài màn hình @{label}"
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
    become(page, live, "reviewer_d1")  # on the phone: the figures read, ticked and approved with the others
    page.set_viewport_size(SIZES["dien-thoai"])
    page.goto(f"{live.url}/duyet")
    assert "Số đoàn viên mới kết nạp: 125" in page.inner_text("#hang-doi")
    page.check(f"#hang-doi input[name=chon][value^='{report}:']")
    page.click("#duyet-hang-loat button[type=submit]")
    page.wait_for_selector("text=Đã duyệt các hồ sơ được chọn.")
    become(page, live, "officer_d1_1")
    page.goto(f"{live.url}/don-vi/nghia-vu/{report}")
    assert page.inner_text("#tinh-trang") == "Đã duyệt"
    shots("bao-cao-da-duyet")

    # --- October: the unit proposes, sends its list, and is no longer chased ----------------------------
    world.clock[0] = OCTOBER
    eligible_for_round_two_awards(world)
    window = world.assignment_id("BDH.D1.1", "de-xuat-khen-thuong-dot-2")
    chased = {
        u.code
        for b in reminder_service.preview(world.engine, "bd-2023", now=OCTOBER, days=20).batches
        if b.obligation_code == "de-xuat-khen-thuong-dot-2"
        for u in b.units
    }
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
    chased = {
        u.code
        for b in reminder_service.preview(world.engine, "bd-2023", now=OCTOBER, days=20).batches
        if b.obligation_code == "de-xuat-khen-thuong-dot-2"
        for u in b.units
    }
    assert "BDH.D1.1" not in chased and "BDH.D1.2" in chased

    # --- The district's progress page ------------------------------------------------------------------
    become(page, live, "reviewer_d1")
    page.goto(f"{live.url}/tien-do?nghia_vu=so-ket-dot-1")
    units = [
        r[0]
        for r in page.eval_on_selector_all(
            "#theo-huyen tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))"
        )
    ]
    assert units == ["CĐCS Đơn vị Mẫu 1-1 (giả lập)", "CĐCS Đơn vị Mẫu 1-2 (giả lập)", "CĐCS Đơn vị Mẫu 1-3 (giả lập)"]
    assert "CĐCS Đơn vị Mẫu 1-2" in page.inner_text("#danh-sach-tre")
    shots("tien-do-huyen")

    # --- The office on Monday -----------------------------------------------------------------------------
    world.clock[0] = datetime(2023, 10, 9, 1, 0, tzinfo=timezone.utc)  # Monday 09/10/2023 08:00
    become(page, live, "office")
    page.goto(f"{live.url}/van-phong")
    assert page.locator("#theo-nghia-vu").count() == 1
    page.set_viewport_size(SIZES["may-tinh"])
    problems = page_width_problems(page, 1366) + axe_problems(page)
    assert not problems, f"toàn cảnh @1366: {problems}"
    fits = page.eval_on_selector("#khen-thuong-theo-cap", "t => t.scrollWidth <= t.parentElement.clientWidth")
    assert fits, "bảng đề nghị khen thưởng theo cấp phải vừa màn hình 1366 px"
    names = page.eval_on_selector_all(
        "#bieu-do-sang-kien-8000 .hchart-name",
        "ns => ns.map(n => [n.innerText.replace(/\\s+/g, ' '), n.scrollWidth <= n.clientWidth])",
    )
    assert [n for n, _ in names] == [
        "Liên đoàn Lao động tỉnh Bình Định",
        "LĐLĐ huyện Thử Nghiệm 1",
        "LĐLĐ huyện Thử Nghiệm 2",
    ]
    assert all(whole for _, whole in names)
    # Sorting: a click on a header orders the rows and says so (aria-sort); a second click turns it round.
    page.click("#theo-nghia-vu thead th:nth-child(7) button")
    assert page.get_attribute("#theo-nghia-vu thead th:nth-child(7)", "aria-sort") == "descending"
    overdue = [int(v) for v in column_texts(page, "#theo-nghia-vu", 6)]
    assert overdue == sorted(overdue, reverse=True) and overdue[0] > overdue[-1]
    page.click("#theo-nghia-vu thead th:nth-child(1) button")
    assert page.get_attribute("#theo-nghia-vu thead th:nth-child(1)", "aria-sort") == "ascending"
    assert page.get_attribute("#theo-nghia-vu thead th:nth-child(7)", "aria-sort") is None
    # A download that takes seconds: the link is busy and a message says so, then the file arrives.
    page.evaluate("""() => { window.seen = [];
        new MutationObserver(() => window.seen.push([document.querySelector('#trang-thai-tai').textContent,
            document.querySelectorAll('a[aria-busy=true]').length])).observe(document.body,
            {subtree: true, attributes: true, childList: true, characterData: true}); }""")
    with page.expect_download() as download:
        page.click("a[data-label='Sơ kết đợt 1 (Excel)']")
    assert download.value.suggested_filename.endswith(".xlsx")
    page.wait_for_selector("text=Đã tạo xong tệp Sơ kết đợt 1 (Excel).")
    seen = page.evaluate("() => window.seen")
    assert ["Đang tạo tệp Sơ kết đợt 1 (Excel)…", 1] in seen
    assert page.locator("a[aria-busy=true]").count() == 0
    page.set_viewport_size(SIZES["dien-thoai"])
    problems = page_width_problems(page, 390) + axe_problems(page)
    assert not problems, f"toàn cảnh @390: {problems}"
    for column in ("% đã nộp", "Quá hạn chưa nộp"):
        for table in ("#theo-nghia-vu", "#theo-cap", "#theo-huyen"):
            assert inside(page, f"{table} thead th:has-text('{column}')", 390), f"{table}: cột '{column}' bị khuất"
    shots("toan-canh-thu-hai")

    # Without a script nothing breaks: the tables read as sent, the download is an ordinary link.
    plain = page.context.browser.new_context(java_script_enabled=False, locale="vi-VN", viewport=SIZES["may-tinh"])
    try:
        bare = plain.new_page()
        become(bare, live, "office")
        bare.goto(f"{live.url}/van-phong")
        assert bare.locator("#theo-nghia-vu thead th button").count() == 0
        with bare.expect_download() as download:
            bare.click("a[data-label='Sổ khen thưởng (Excel)']")
        assert download.value.suggested_filename.endswith(".xlsx")
    finally:
        plain.close()

    # No mail of the walk carries a note meant for the people who configure the campaign.
    for path in live.mails():
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        for part in mail.walk():
            if part.get_content_maintype() == "text":
                found = INTERNAL.search(part.get_content())
                assert found is None, f"{mail['Subject']}: '{found.group(0)}'"
