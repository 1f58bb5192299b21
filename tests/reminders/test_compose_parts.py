"""compose remembers what the mail of one campaign object carries alike (From, Reply-To, List-Id, the local Date,
the layout): another campaign, another reply address or another moment gets its own."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
from email import policy

from thidua.notifications.render import get_renderer
from thidua.notifications.transport import SmtpSettings
from thidua.services.lookup import CampaignInfo
from thidua.services.reminders.contents import REMINDER_PER_RECIPIENT, compose, reminder_context

SMTP = SmtpSettings(host="127.0.0.1", sender="thidua@ldld.example.vn", sender_name="Hệ thống thi đua")


def _campaign(cid: int, department: str, owner: str, timezone: str = "Asia/Ho_Chi_Minh") -> CampaignInfo:
    return CampaignInfo(
        cid, f"C{cid}", f"Phong trào {cid}", timezone, owner, department, True, "Liên đoàn Lao động tỉnh Bình Định"
    )


def _mail(campaign: CampaignInfo, now: datetime, reply_to: str | None) -> email.message.EmailMessage:
    context = reminder_context(
        campaign,
        unit_name="CĐCS Trường THCS Nguyễn Trãi",
        obligation_title="Báo cáo quý",
        due_on=date(2023, 6, 20),
        today=date(2023, 6, 12),
        assignment_id=7,
        base_url="https://thidua.example.vn",
        returned=False,
        link="https://thidua.example.vn/don-vi/nghia-vu/7?t=abc",
    )
    message, _ = compose(
        key=f"k{campaign.id}{now.isoformat()}",
        recipient="cd@example.vn",
        display_name="CĐCS Trường THCS Nguyễn Trãi",
        template="reminder_upcoming",
        context=context,
        reply_to=reply_to,
        smtp=SMTP,
        mail_domain="ldld.example.vn",
        now=now,
        kind="reminder",
        renderer=get_renderer(),
        campaign=campaign,
        unsubscribe="https://thidua.example.vn/huy-nhan-thu/tok",
        per_recipient=REMINDER_PER_RECIPIENT,
    )
    return email.message_from_bytes(message.raw, policy=policy.default)  # type: ignore[return-value]


def test_each_campaign_object_and_moment_gets_its_own_headers() -> None:
    one = _campaign(1, "Ban Tổ chức", "ban.tc@ldld.example.vn")
    two = _campaign(2, "Ban Chính sách pháp luật và Quan hệ lao động", "ban.cspl@ldld.example.vn", "Asia/Tokyo")
    now = datetime(2023, 6, 12, 1, 0, tzinfo=UTC)
    later = datetime(2023, 6, 13, 1, 0, tzinfo=UTC)
    first = _mail(one, now, one.owner_email)
    assert "ban.tc@ldld.example.vn" in first["Reply-To"] and "Ban Tổ chức" in str(first["Reply-To"])
    assert "Phong trào 1" in first.get_body(("html",)).get_content()
    assert first["Date"] == "Mon, 12 Jun 2023 08:00:00 +0700"
    second = _mail(two, now, two.owner_email)
    assert "ban.cspl@ldld.example.vn" in second["Reply-To"] and "Chính sách" in str(second["Reply-To"])
    assert str(first["From"]) != str(second["From"]) and str(first["List-Id"]) != str(second["List-Id"])
    assert "Phong trào 2" in second.get_body(("html",)).get_content()
    assert second["Date"] == "Mon, 12 Jun 2023 10:00:00 +0900"
    assert _mail(two, later, two.owner_email)["Date"] == "Tue, 13 Jun 2023 10:00:00 +0900"
    assert _mail(two, later, None)["Reply-To"] is None
    again = _mail(one, now, one.owner_email)
    assert (str(again["From"]), str(again["Reply-To"]), again["Date"]) == (
        str(first["From"]),
        str(first["Reply-To"]),
        first["Date"],
    )
