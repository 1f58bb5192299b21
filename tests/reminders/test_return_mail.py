"""Issue 11 point 2: returning a report mails the unit at once — the reviewer's comment and a signed link —
and nobody is mailed about their own action."""

from __future__ import annotations

from thidua.notifications.sink import FaultInjectingHandler
from tests.reminders.conftest import Campaign, mails_of, smtp_for, vn
from thidua.db import session_scope
from thidua.services.submissions import review_report, submit_report

COMMENT = "Số đoàn viên mới chưa khớp sổ sách, đề nghị kiểm tra."


def returned(campaign: Campaign, reviewer_actor: str = "huyen1@example.vn") -> None:
    with session_scope(campaign.engine) as session:
        submit_report(
            session,
            campaign_code="bd-2023",
            obligation_code="so-ket-dot-1",
            unit_code="BDH.D1.1",
            raw={"so_sang_kien": 3, "so_doan_vien_moi": 4},
            actor="nguoi-gui@example.vn",
            now=vn(5, 6, hour=9),
        )
    with session_scope(campaign.engine) as session:
        review_report(
            session,
            campaign_code="bd-2023",
            obligation_code="so-ket-dot-1",
            unit_code="BDH.D1.1",
            reviewer_code="BDH.D1",
            accept=False,
            actor=reviewer_actor,
            comment=COMMENT,
            now=vn(5, 6, hour=10),
        )


def test_a_returned_report_mails_the_unit_with_the_comment_and_a_signed_link(any_campaign: Campaign, sinks) -> None:
    sink = sinks(FaultInjectingHandler())
    returned(any_campaign)
    queued = any_campaign.outbox(kind="report_returned")
    assert sorted(r.recipient for r in queued) == ["bdh-d1-1@example.vn", "nguoi-gui@example.vn"]
    assert all(r.scheduled_at.replace(tzinfo=None) <= vn(5, 6, hour=10).replace(tzinfo=None) for r in queued)
    any_campaign.dispatch(vn(5, 6, hour=10, minute=1), smtp_for(sink.host, sink.port))
    (mail,) = [m for m in mails_of(sink.handler.accepted) if m.to == "bdh-d1-1@example.vn" and "trả lại" in m.subject]
    assert mail.subject == "Báo cáo bị trả lại: Báo cáo sơ kết đợt 1"
    assert COMMENT in mail.text and "LĐLĐ huyện Thử Nghiệm 1" in mail.text
    assert "/don-vi/nghia-vu/" in mail.text and "?t=" in mail.text  # the signed link


def test_the_reviewer_is_not_mailed_about_their_own_return(campaign: Campaign) -> None:
    returned(campaign, reviewer_actor="bdh-d1-1@example.vn")  # the same person on both sides
    assert [r.recipient for r in campaign.outbox(kind="report_returned")] == ["nguoi-gui@example.vn"]
