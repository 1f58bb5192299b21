"""Issue 11 point 5: the full-year demo sent reminders on Saturdays at 16:30. Cause: a report returned on a
Saturday made an earlier reminder (Friday's, still "current") due again, and the 16:30 dispatch sent it at
once. Mail of the campaign calendar is now planned and sent only at working moments."""

from __future__ import annotations

from datetime import datetime

from thidua.models.clock import utc_to_local
from thidua.models.outbox import OutboxStatus
from thidua.notifications.sink import FaultInjectingHandler
from tests.reminders.conftest import Campaign, mails_of, smtp_for, vn
from thidua.db import session_scope
from thidua.services.submissions import review_report, submit_report


def test_a_saturday_return_waits_for_monday(any_campaign: Campaign, sinks) -> None:
    campaign = any_campaign
    sink = sinks(FaultInjectingHandler())
    smtp = smtp_for(sink.host, sink.port)
    for earlier in ("dang-ky-thi-dua",):
        campaign.set_status_all(earlier, "da_duyet")
    # so-ket-dot-2 due Tue 10/10/2023; the −3 reminder goes out on Fri 06/10 08:00 (nobody has sent yet).
    campaign.dispatch(vn(6, 10, hour=8), smtp)
    with session_scope(campaign.engine) as session:  # BDH.D1.1 sends on Friday, the district returns it Saturday
        submit_report(
            session,
            campaign_code="bd-2023",
            obligation_code="so-ket-dot-2",
            unit_code="BDH.D1.1",
            raw={"so_sang_kien": 1, "so_doan_vien_moi": 2},
            actor="x@example.vn",
            now=vn(6, 10, hour=9),
        )
    with session_scope(campaign.engine) as session:
        review_report(
            session,
            campaign_code="bd-2023",
            obligation_code="so-ket-dot-2",
            unit_code="BDH.D1.1",
            reviewer_code="BDH.D1",
            accept=False,
            actor="huyen1@example.vn",
            comment="Thiếu số liệu",
            now=vn(7, 10, hour=10),
        )
    before = len(sink.handler.accepted)
    campaign.dispatch(vn(7, 10, hour=16, minute=30), smtp)  # Saturday
    campaign.dispatch(vn(8, 10, hour=8), smtp)  # Sunday
    assert len(sink.handler.accepted) == before
    assert not [r for r in campaign.outbox(status=OutboxStatus.SENT.value) if utc_to_local(r.sent_at).weekday() >= 5]
    campaign.dispatch(vn(9, 10, hour=7, minute=30), smtp)  # Monday: the return notice, at the opening
    campaign.dispatch(vn(9, 10, hour=8), smtp)  # the −1 reminder at its time
    sent = [
        (m.to, m.subject, utc_to_local(m.date).strftime("%a %H:%M"))
        for m in mails_of(sink.handler.accepted)[before:]
        if m.to == "bdh-d1-1@example.vn"
    ]
    assert sent == [
        ("bdh-d1-1@example.vn", "Báo cáo bị trả lại: Báo cáo sơ kết đợt 2", "Mon 07:30"),
        ("bdh-d1-1@example.vn", "Còn 1 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023", "Mon 08:00"),
    ]
    for row in campaign.outbox():
        if row.sent_at is not None:
            local = utc_to_local(row.sent_at)
            assert local.weekday() < 5 and "07:30" <= local.strftime("%H:%M") < "17:00", (row.key, local)
    assert isinstance(datetime.now(), datetime)
