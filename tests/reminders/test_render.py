"""Templates and message composition: Vietnamese subjects, dd/mm/yyyy dates, link, Reply-To, Message-ID."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from thidua.notifications.message import message_id_for
from thidua.notifications.render import Renderer, TemplateRenderError, get_renderer
from thidua.services.reminders import (
    CampaignInfo,
    compose,
    failure_report_context,
    office_digest_context,
    parent_digest_context,
    reminder_context,
)
from tests.reminders.conftest import parse, smtp_for, vn

STRICT = get_renderer(strict=True)
CAMPAIGN = CampaignInfo(
    1,
    "bd-2023",
    "Phong trào thi đua năm 2023",
    "Asia/Ho_Chi_Minh",
    "ban.cspl@ldld.binhdinh.vn",
    "Ban Chính sách pháp luật và Quan hệ lao động",
    True,
)
BASE = "https://thidua.ldld.binhdinh.vn"


def reminder(today: date, **overrides):
    values = dict(
        unit_name="CĐCS Công ty <Mẫu> & Cộng sự",
        obligation_title="Báo cáo sơ kết đợt 2",
        due_on=date(2023, 10, 10),
        today=today,
        assignment_id=42,
        base_url=BASE,
        returned=False,
    )
    values.update(overrides)
    return reminder_context(CAMPAIGN, **values)


def test_upcoming_reminder_reads_as_the_issue_asks() -> None:
    mail = STRICT.render("reminder_upcoming", reminder(date(2023, 10, 7)))
    assert mail.subject == "Còn 3 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"
    assert 'Còn 3 ngày nữa là đến hạn nộp "Báo cáo sơ kết đợt 2" (hạn 10/10/2023)' in mail.text
    assert f"{BASE}/don-vi/nghia-vu/42" in mail.text and f'href="{BASE}/don-vi/nghia-vu/42"' in mail.html
    assert "Kính gửi CĐCS Công ty <Mẫu> & Cộng sự," in mail.text  # plain text is not escaped
    assert "CĐCS Công ty &lt;Mẫu&gt; &amp; Cộng sự" in mail.html  # HTML is


def test_due_today_and_returned_wording() -> None:
    mail = STRICT.render("reminder_upcoming", reminder(date(2023, 10, 10), returned=True))
    assert mail.subject == "Hôm nay là hạn cuối: Báo cáo sơ kết đợt 2 hạn 10/10/2023"
    assert "Hôm nay (10/10/2023) là hạn cuối" in mail.text
    assert "đã bị trả lại" in mail.text


def test_overdue_reminder_mentions_the_escalation() -> None:
    mail = STRICT.render("reminder_overdue", reminder(date(2023, 10, 16), escalated_to="LĐLĐ huyện Tuy Phước"))
    assert mail.subject == "Quá hạn 6 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"
    assert "đã quá hạn 6 ngày (hạn 10/10/2023)" in mail.text
    assert "LĐLĐ huyện Tuy Phước cũng đã được thông báo" in mail.text


def test_parent_digest_lists_each_overdue_child_once() -> None:
    children = [
        SimpleNamespace(
            name="CĐCS Mẫu 1-1",
            code="BDH.D1.1",
            title="Báo cáo sơ kết đợt 2",
            due_on=date(2023, 10, 10),
            status="chua_gui",
            id=5,
        ),
        SimpleNamespace(
            name="CĐCS Mẫu 1-1",
            code="BDH.D1.1",
            title="Đề xuất khen thưởng sơ kết đợt 2",
            due_on=date(2023, 10, 20),
            status="chua_gui",
            id=9,
        ),
        SimpleNamespace(
            name="CĐCS Mẫu 1-3",
            code="BDH.D1.3",
            title="Báo cáo sơ kết đợt 2",
            due_on=date(2023, 10, 10),
            status="tra_lai",
            id=7,
        ),
    ]
    context = parent_digest_context(
        CAMPAIGN, parent_name="LĐLĐ huyện Thử Nghiệm 1", children=children, today=date(2023, 10, 23), base_url=BASE
    )
    mail = STRICT.render("digest_parent", context)
    assert mail.subject == "2 đơn vị trực thuộc quá hạn nộp báo cáo (23/10/2023)"
    assert "- CĐCS Mẫu 1-1 (BDH.D1.1): Báo cáo sơ kết đợt 2, hạn 10/10/2023, quá hạn 13 ngày" in mail.text
    assert "Đề xuất khen thưởng sơ kết đợt 2, hạn 20/10/2023, quá hạn 3 ngày" in mail.text
    assert "quá hạn 13 ngày (bị trả lại, chưa gửi lại)" in mail.text
    assert mail.html.count("<tr>") == 3


def test_unknown_template_falls_back_to_generic() -> None:
    mail = STRICT.render(
        "dang-nhap",
        {"subject": "Liên kết đăng nhập", "body": "Dòng một.\n\nDòng hai.", "link": f"{BASE}/dang-nhap/abc"},
    )
    assert mail.subject == "Liên kết đăng nhập"
    assert "Dòng một.\n\nDòng hai." in mail.text and f"Xem chi tiết: {BASE}/dang-nhap/abc" in mail.text
    assert "<p>Dòng hai.</p>" in mail.html


def test_missing_values_render_empty_unless_strict() -> None:
    lenient = Renderer()
    assert lenient.render("reminder_upcoming", {"days_left": 2, "phrase": "Còn 2 ngày"}).subject == "Còn 2 ngày: hạn"
    with pytest.raises(TemplateRenderError, match="reminder_upcoming"):
        Renderer(strict=True).render("reminder_upcoming", {"days_left": 2})


def test_office_digest_and_failure_report(campaign) -> None:
    from sqlmodel import Session

    with Session(campaign.engine) as session:
        from thidua.services.reminders import campaign_infos, campaign_id_for

        info = campaign_infos(session, [campaign_id_for(campaign.engine, "bd-2023")])
        [campaign_info] = info.values()
        context = office_digest_context(session, campaign_info, now=vn(11, 10), frequency="daily")
        report = failure_report_context(session, campaign_info, day=date(2023, 10, 11), now=vn(11, 10))
    mail = STRICT.render("digest_office", context)
    # 8 units owe 6 obligations; none submitted; the 3 due before 11/10 are overdue for all 8. The subject counts
    # only what is due: the 3 obligations due later are not "missing" yet. Besides, the 2 districts owe the báo cáo
    # nhanh (due 08/09), filed in September (the fixture): 2 more due, both in.
    assert mail.subject == "Tổng hợp ngày 11/10/2023: đã nộp 2/26 báo cáo đã đến hạn, 24 quá hạn"
    assert "Chưa tính 3 loại báo cáo chưa đến hạn." in mail.text
    assert "- Báo cáo sơ kết đợt 2 (hạn 10/10/2023): đã nộp 0/8 (0 %)" in mail.text
    assert "3. ĐƠN VỊ THIẾU HOẶC SAI ĐỊA CHỈ E-MAIL (0)" in mail.text
    assert STRICT.render("failure_report", report).subject == "Báo lỗi gửi thư ngày 11/10/2023: 0 thư không gửi được"


def test_composed_message_headers() -> None:
    smtp = smtp_for("127.0.0.1", 25)
    key = "rem:42:truoc-3-ngay:0:cdcs@example.vn"
    message, message_id = compose(
        key=key,
        recipient="cdcs@example.vn",
        display_name='CĐCS "Mẫu", Bình Định',
        template="reminder_upcoming",
        context=reminder(date(2023, 10, 7)),
        reply_to=CAMPAIGN.owner_email,
        smtp=smtp,
        mail_domain="thidua.test",
        now=vn(7, 10, hour=8),
        kind="reminder",
        renderer=STRICT,
    )
    parsed = parse(message.raw)
    assert message.recipients == ["cdcs@example.vn"] and message.sender == smtp.sender
    assert parsed["Subject"] == "Còn 3 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"
    assert parsed["To"].addresses[0].display_name == 'CĐCS "Mẫu", Bình Định'
    assert parsed["Reply-To"] == "ban.cspl@ldld.binhdinh.vn"
    assert parsed["Message-ID"] == message_id == message_id_for(key, "thidua.test")
    assert parsed["From"].addresses[0].display_name == smtp.sender_name
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Date"].datetime == vn(7, 10, hour=8)
    html = parsed.get_body(preferencelist=("html",)).get_content()
    assert "Gửi báo cáo" in html


def test_bad_recipient_is_refused_when_composing() -> None:
    with pytest.raises(ValueError):
        compose(
            key="k",
            recipient="khong hop le@x",
            display_name="",
            template="reminder_upcoming",
            context=reminder(date(2023, 10, 7)),
            reply_to=None,
            smtp=smtp_for("127.0.0.1", 25),
            mail_domain="thidua.test",
            now=vn(7, 10),
            kind="reminder",
            renderer=STRICT,
        )
