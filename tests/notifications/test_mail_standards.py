"""Every mail template, built as dispatch builds it, read back by the standard library's strict parser
(`email.policy.default`): local Date, Message-ID on the configured domain, From/Reply-To named after the
office and its federation, List-Id, RFC 8058 one-click unsubscribe on non-mandatory mail; the one-click POST
stops exactly what it says, is recorded and audited. HTML bodies: no raw URL as link text, AA contrast
(checked by axe-core in tests/notifications/test_mail_accessibility.py)."""

from __future__ import annotations

import re
from datetime import date
from email.headerregistry import Address
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.reminders.conftest import Campaign, load_binh_dinh, mails_of, parse, smtp_for, vn
from thidua.models.outbox import MailOptOut
from thidua.models.tables import AuditLog
from thidua.notifications.render import TEMPLATES_DIR, get_renderer
from thidua.notifications.sink import FaultInjectingHandler
from thidua.services.optout import NON_MANDATORY_KINDS, unsubscribe_url
from thidua.services.reminders import (
    campaign_id_for,
    campaign_infos,
    compose,
    failure_report_context,
    office_digest_context,
    parent_digest_context,
    reminder_context,
)
from thidua.settings import Settings

STRICT = get_renderer(strict=True)
TEMPLATES = sorted(p.name.removesuffix(".subject.j2") for p in TEMPLATES_DIR.glob("*.subject.j2"))
KIND_OF = {
    "reminder_upcoming": "reminder",
    "reminder_overdue": "reminder",
    "digest_parent": "escalation",
    "digest_office": "office_digest",
    "failure_report": "failure_report",
    "login_link": "login_link",
    "nomination_step": "nomination",
    "report_returned": "report_returned",
    "generic": "generic",
}


def test_every_template_has_a_kind() -> None:
    assert set(TEMPLATES) == set(KIND_OF)


@pytest.fixture
def bd(engine, settings, tmp_path) -> Campaign:  # noqa: ANN001
    return load_binh_dinh(engine, settings, tmp_path)


def contexts(bd: Campaign, info, base: str) -> dict[str, dict]:  # noqa: ANN001
    """A realistic context for every template (those of the reminders service are built by it)."""
    from sqlmodel import Session

    child = SimpleNamespace(
        name="CĐCS Mẫu 1-1",
        code="BDH.D1.1",
        title="Báo cáo sơ kết đợt 2",
        due_on=date(2023, 10, 10),
        status="chua_gui",
        id=5,
    )
    with Session(bd.engine) as session:
        office = office_digest_context(session, info, now=vn(11, 10), frequency="daily")
        failures = failure_report_context(session, info, day=date(2023, 10, 11), now=vn(11, 10))
    long_link = f"{base}/dang-nhap/lien-ket?t=" + "x" * 300
    return {
        "reminder_upcoming": reminder_context(
            info,
            unit_name="CĐCS Mẫu 1-1",
            obligation_title="Báo cáo sơ kết đợt 2",
            due_on=date(2023, 10, 10),
            today=date(2023, 10, 7),
            assignment_id=5,
            base_url=base,
            returned=False,
            link=long_link,
        ),
        "reminder_overdue": reminder_context(
            info,
            unit_name="CĐCS Mẫu 1-1",
            obligation_title="Báo cáo sơ kết đợt 2",
            due_on=date(2023, 10, 10),
            today=date(2023, 10, 16),
            assignment_id=5,
            base_url=base,
            returned=True,
            escalated_to="LĐLĐ huyện 1",
            link=long_link,
        ),
        "digest_parent": parent_digest_context(
            info, parent_name="LĐLĐ huyện 1", children=[child], today=date(2023, 10, 16), base_url=base
        ),
        "digest_office": office,
        "failure_report": failures,
        "login_link": {
            "link": long_link,
            "email": "ai@example.vn",
            "units": ["CĐCS Mẫu 1-1"],
            "full_name": "Nguyễn Văn A",
            "expires_at": "08:30 07/10/2023",
            "minutes": 30,
        },
        "nomination_step": {
            **info.layout,
            "audience": "unit",
            "unit_name": "CĐCS Mẫu 1-1",
            "nomination_id": 7,
            "award_name": "Giấy khen",
            "subject_label": "Tập thể",
            "nominee_name": "CĐCS Mẫu 1-1",
            "occasion_label": "Sơ kết đợt 2",
            "action": "return",
            "status": "returned",
            "status_label": "Bị trả lại",
            "acting_unit": "LĐLĐ huyện 1",
            "holder_unit": "",
            "comment": "Thiếu biên bản",
            "review_due": "",
            "at": "08:30 07/10/2023",
            "link": long_link,
            "count": 1,
            "to_trinh_number": "",
            "to_trinh_date": "",
            "decision_number": "",
            "decision_date": "",
            "decision_signer": "",
            "returned_to_sender": True,
        },
        "report_returned": {
            **info.layout,
            "unit_name": "CĐCS Mẫu 1-1",
            "obligation_title": "Báo cáo sơ kết đợt 2",
            "reviewer_name": "LĐLĐ huyện 1",
            "comment": "Thiếu số liệu sáng kiến",
            "version": 2,
            "due_date": "10/10/2023",
            "returned_at": "08:30 07/10/2023",
            "link": long_link,
        },
        "generic": {
            **info.layout,
            "subject": "Thông báo",
            "body": "Dòng một.\n\nDòng hai.",
            "link": long_link,
            "link_label": "Xem",
        },
    }


def build_all(bd: Campaign):  # noqa: ANN201
    settings: Settings = bd.settings
    with bd_session(bd) as session:
        info = campaign_infos(session, [campaign_id_for(bd.engine, "bd-2023")]).popitem()[1]
    smtp = smtp_for("127.0.0.1", 25, sender=settings.smtp_sender, sender_name=settings.smtp_sender_name)
    out = {}
    for name, context in contexts(bd, info, settings.base_url).items():
        kind = KIND_OF[name]
        with_campaign = kind != "login_link"
        unsubscribe = (
            unsubscribe_url(settings, "cdcs@example.vn", info.id, 5 if kind == "reminder" else None)
            if kind in NON_MANDATORY_KINDS
            else None
        )
        message, _ = compose(
            key=f"k:{name}",
            recipient="cdcs@example.vn",
            display_name="CĐCS Mẫu 1-1",
            template=name,
            context=context,
            reply_to=info.owner_email,
            smtp=smtp,
            mail_domain=settings.mail_domain,
            now=vn(7, 10, hour=8),
            kind=kind,
            renderer=STRICT,
            campaign=info if with_campaign else None,
            unsubscribe=unsubscribe,
            reply_name="" if with_campaign else info.reply_name,
        )
        out[name] = (kind, parse(message.raw))
    return info, out


def bd_session(bd: Campaign):  # noqa: ANN201
    from sqlmodel import Session

    return Session(bd.engine)


def test_every_template_parses_cleanly_with_standard_headers(bd: Campaign) -> None:
    info, built = build_all(bd)
    domain = bd.settings.mail_domain
    assert domain == "ldld.binhdinh.vn"  # from the sender address, not a made-up .local
    for name, (kind, message) in built.items():
        assert not message.defects, (name, message.defects)
        for header in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID", "List-Id"):
            if message[header] is not None:
                assert not message[header].defects, (name, header, message[header].defects)
        assert str(message["Date"]).endswith("+0700"), (name, message["Date"])
        assert message["Date"].datetime == vn(7, 10, hour=8)
        assert message["Message-ID"].endswith(f"@{domain}>"), name
        sender: Address = message["From"].addresses[0]
        reply: Address = message["Reply-To"].addresses[0]
        assert reply.addr_spec == "ban.cspl@ldld.binhdinh.vn" and "LĐLĐ tỉnh Bình Định" in reply.display_name, name
        assert "Ban Chính sách pháp luật và Quan hệ lao động" in reply.display_name, name
        if kind == "login_link":
            assert message["List-Id"] is None and message["List-Unsubscribe"] is None
            assert sender.display_name == bd.settings.smtp_sender_name
            continue
        assert sender.display_name == "Ban CSPL&QHLĐ – LĐLĐ tỉnh Bình Định", name
        assert re.fullmatch(r'"[^"]+" <bd-2023\.ldld\.binhdinh\.vn>', str(message["List-Id"])), message["List-Id"]
        if kind in NON_MANDATORY_KINDS:
            assert re.fullmatch(r"<https?://[^>]+/huy-nhan-thu/[^>]+>", str(message["List-Unsubscribe"])), name
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            text = message.get_body(preferencelist=("plain",)).get_content()
            assert "Không muốn nhận loại thư này nữa: http" in text, name
        else:  # a decision about the unit's own file is not bulk mail
            assert message["List-Unsubscribe"] is None, name


def test_html_links_show_short_text_and_footer_contrast(bd: Campaign) -> None:
    _, built = build_all(bd)
    for name, (_, message) in built.items():
        html = message.get_body(preferencelist=("html",)).get_content()
        for text in re.findall(r"<a [^>]*>([^<]*)</a>", html):
            assert len(text) <= 48, (name, text)  # never a raw signed URL as the visible text
        assert "#6b7280" not in html  # the old grey failed AA contrast on the footer background


def test_digest_subject_counts_only_obligations_already_due(bd: Campaign) -> None:
    _, built = build_all(bd)
    # 6 obligations, 3 of them due by 11/10; 8 units each. And the báo cáo nhanh (due 08/09) of the 2 districts,
    # filed in September (the reminders fixture): 2 more due, both in.
    assert (
        str(built["digest_office"][1]["Subject"])
        == "Tổng hợp ngày 11/10/2023: đã nộp 2/26 báo cáo đã đến hạn, 24 quá hạn"
    )


def test_one_click_unsubscribe_stops_that_obligations_reminders_and_is_audited(bd: Campaign, sink_factory) -> None:
    from thidua.web.app import create_app

    sink = sink_factory(FaultInjectingHandler())
    smtp = smtp_for(sink.host, sink.port)
    for earlier in ("dang-ky-thi-dua", "so-ket-dot-1"):
        bd.set_status_all(earlier, "da_duyet")
    bd.dispatch(vn(3, 10, hour=8), smtp)  # "Còn 7 ngày" to every CĐCS
    first = [m for m in mails_of(sink.handler.accepted) if m.to == "bdh-d1-1@example.vn"]
    assert [m.subject for m in first] == ["Còn 7 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"]
    raw = next(r for r in sink.handler.accepted if r.rcpt_tos[0] == "bdh-d1-1@example.vn")
    header = parse(raw.content)["List-Unsubscribe"]
    url = urlsplit(str(header).strip("<>"))

    client = TestClient(create_app(bd.settings, bd.engine, clock=lambda: vn(3, 10, hour=9)))
    page = client.get(url.path)  # a link scanner: nothing changes
    assert page.status_code == 200 and "Báo cáo sơ kết đợt 2" in page.text
    forged = client.post(url.path[:-3] + "abc", data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 400
    with bd_session(bd) as session:
        assert session.execute(select(MailOptOut)).first() is None
    answer = client.post(url.path, data={"List-Unsubscribe": "One-Click"})  # what Gmail/Yahoo send (RFC 8058)
    assert answer.status_code == 200 and "Đã ghi nhận" in answer.text
    assert client.post(url.path, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # twice: one record
    with bd_session(bd) as session:
        [optout] = session.execute(select(MailOptOut)).scalars().all()
        assert (optout.recipient, optout.source) == ("bdh-d1-1@example.vn", "one-click")
        assert optout.assignment_id == bd.assignment_id("BDH.D1.1", "so-ket-dot-2")
        [entry] = session.execute(select(AuditLog).where(AuditLog.action == "mail.opted_out")).scalars().all()
        assert entry.actor == "email:bdh-d1-1@example.vn"

    day = date(2023, 10, 9)  # "Còn 1 ngày" for so-ket-dot-2
    bd.dispatch(vn(day.day, day.month, hour=8), smtp)
    later = [m for m in mails_of(sink.handler.accepted) if m.date >= vn(9, 10, hour=0)]
    assert not [m for m in later if m.to == "bdh-d1-1@example.vn" and "sơ kết đợt 2" in m.subject]
    assert [m for m in later if m.to == "bdh-d1-2@example.vn" and "sơ kết đợt 2" in m.subject]  # others still get it
    skipped = bd.outbox(status="skipped")
    assert any(r.recipient == "bdh-d1-1@example.vn" and "ngừng nhận" in (r.last_error or "") for r in skipped)
