"""The office digest's delivery figures describe the outbox when the digest was planned (the start of the pass
that sends it), not whatever part of that pass was already sent when it was composed: the same year gives the
same digest, and mail of the pass is never counted nowhere (claimed at compose time: neither sent nor pending)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from thidua.db import session_scope
from thidua.notifications.sink import FaultInjectingHandler
from thidua.services import reminders as service
from thidua.services.submissions import review_report, submit_report
from tests.reminders.conftest import Campaign, O, mails_of, parse, smtp_for, vn

DIGEST_AT = vn(3, 10, hour=8)  # Tuesday 08:00: the office slot, and the −7 reminder of so-ket-dot-2 for 8 units
# At its planning: the 2 report_returned mails of 07:30 and the 8 reminders just planned wait; nothing was sent in
# the window (02/10 08:00 – 03/10 08:00).
FIGURES = "Đã gửi: 0; thất bại: 0; gửi được một phần: 0; chưa rõ kết quả: 0; đang chờ gửi: 10."


def _return_a_report(campaign: Campaign, *, submitted: datetime, returned: datetime) -> None:
    """A unit submits and its reviewer returns the report: the unit and the sender are mailed."""
    key = dict(campaign_code="bd-2023", obligation_code="so-ket-dot-1", unit_code="BDH.D1.1")
    with session_scope(campaign.engine) as session:
        submit_report(
            session, **key, raw={"so_sang_kien": 3, "so_doan_vien_moi": 4}, actor="nguoi-gui@example.vn", now=submitted
        )
    with session_scope(campaign.engine) as session:
        review_report(
            session,
            **key,
            reviewer_code="BDH.D1",
            accept=False,
            actor="huyen1@example.vn",
            comment="Chưa khớp sổ sách.",
            now=returned,
        )


def _return_a_report_at_0730(campaign: Campaign) -> None:
    """The reviewer returns a report before the office slot: the unit and the sender are mailed (pending)."""
    _return_a_report(campaign, submitted=vn(2, 10), returned=vn(3, 10, hour=7, minute=30))
    returned = campaign.outbox(kind="report_returned")
    assert len(returned) == 2 and all(r.status == "pending" for r in returned)


def _digest(sink) -> str:  # noqa: ANN001
    [digest] = [m for m in mails_of(sink.handler.accepted) if m.subject.startswith("Tổng hợp")]
    return digest.text


@pytest.mark.parametrize("batch_size", [1, 1000])
def test_the_digest_counts_the_mail_of_its_pass_as_waiting_whatever_the_batch_size(
    campaign: Campaign, sinks, batch_size: int
) -> None:
    sink = sinks(FaultInjectingHandler())
    _return_a_report_at_0730(campaign)
    summary = campaign.dispatch(DIGEST_AT, smtp_for(sink.host, sink.port), batch_size=batch_size)
    assert summary.plan.office_digests == 1 and summary.plan.reminders == 8
    assert summary.totals.sent == 2 + 8 + 1
    assert FIGURES in _digest(sink)


def test_the_figures_are_taken_once_when_the_digest_is_planned(any_campaign: Campaign, sinks) -> None:
    campaign = any_campaign  # on PostgreSQL too: INSERT … ON CONFLICT … RETURNING, then the JSON update
    sink = sinks(FaultInjectingHandler())
    smtp = smtp_for(sink.host, sink.port)
    _return_a_report_at_0730(campaign)
    # A planning run alone (e.g. the flow's plan step) queues the digest with its figures.
    assert service.plan_due(campaign.engine, now=DIGEST_AT).office_digests == 1
    [planned] = campaign.outbox(kind="office_digest")
    # The pass a minute later sends everything; the digest says what stood at its planning.
    campaign.dispatch(DIGEST_AT + timedelta(minutes=1), smtp, batch_size=1)
    assert FIGURES in _digest(sink)
    # A later pass the same day plans no digest and leaves the stored figures as they were.
    assert campaign.dispatch(vn(3, 10, hour=16), smtp).plan.office_digests == 0
    [after] = campaign.outbox(kind="office_digest")
    assert after.status == "sent" and after.context == planned.context
    # Were they read now, the same window would show the 2 report_returned mails sent and nothing waiting.
    with session_scope(campaign.engine) as session:
        info = service.campaign_infos(session, [planned.campaign_id])[planned.campaign_id]
        live = service.office_digest_context(session, info, now=DIGEST_AT, frequency="daily")
    assert (live["delivery"]["sent"], live["delivery"]["pending"]) == (2, 0)


def test_a_digest_planned_without_figures_reads_them_when_composed(campaign: Campaign, sinks) -> None:
    """Rows queued before the figures were stored (and previews) still compute them when composed, as before."""
    sink = sinks(FaultInjectingHandler())
    _return_a_report_at_0730(campaign)
    service.plan_due(campaign.engine, now=DIGEST_AT)
    [planned] = campaign.outbox(kind="office_digest")
    with session_scope(campaign.engine) as session:
        session.execute(
            update(O).where(O.c.id == planned.id).values(context={"period": "2023-10-03", "frequency": "daily"})
        )
        session.execute(update(O).where(O.c.kind == "report_returned").values(status="sent", sent_at=DIGEST_AT))
    campaign.dispatch(DIGEST_AT, smtp_for(sink.host, sink.port), batch_size=1000)  # all claimed at once
    assert "Đã gửi: 2; thất bại: 0; gửi được một phần: 0; chưa rõ kết quả: 0; đang chờ gửi: 0." in _digest(sink)


def test_monday_s_digest_covers_the_mail_sent_since_friday_s_digest(campaign: Campaign, sinks) -> None:
    """A daily digest reports the mail since the previous digest, not only the last 24 hours: Monday's covers Friday
    after its digest and the weekend, so Friday afternoon's mail is reported once, not never."""
    sink = sinks(FaultInjectingHandler())
    smtp = smtp_for(sink.host, sink.port)
    friday, monday = vn(6, 10, hour=8), vn(9, 10, hour=8)
    campaign.dispatch(friday, smtp)
    _return_a_report(campaign, submitted=friday, returned=vn(6, 10, hour=14))
    assert campaign.dispatch(vn(6, 10, hour=16, minute=30), smtp).totals.sent == 2  # the return, mailed on Friday
    since_friday = [r for r in campaign.outbox() if r.status == "sent" and vn(6, 10, hour=8) <= _utc(r.scheduled_at)]
    assert {r.kind for r in since_friday} >= {"report_returned", "reminder", "office_digest"}
    sink.handler.accepted.clear()
    campaign.dispatch(monday, smtp)
    text = _digest(sink)
    # Friday's digest counted the mail scheduled before 08:00 Friday; Monday's counts every mail since, once.
    assert f"Đã gửi: {len(since_friday)};" in text
    assert "(08:00 06/10/2023 – 08:00 09/10/2023)" in text


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def test_a_digest_sent_later_says_its_delivery_figures_end_when_it_was_planned(campaign: Campaign, sinks) -> None:
    """Its figures are those of its planning (08:00); a digest sent at 08:45 (planned earlier, or retried) says
    so: the window ends at 08:00, the report's own time is 08:45."""
    sink = sinks(FaultInjectingHandler())
    _return_a_report_at_0730(campaign)
    service.plan_due(campaign.engine, now=DIGEST_AT)
    campaign.dispatch(DIGEST_AT + timedelta(minutes=45), smtp_for(sink.host, sink.port))
    text = _digest(sink)
    assert FIGURES in text
    assert "(08:00 02/10/2023 – 08:00 03/10/2023)" in text  # the window the figures count
    assert "(số liệu lúc 08:45 03/10/2023)" in text
    [raw] = [r.content for r in sink.handler.accepted if "Tổng hợp" in str(parse(r.content)["Subject"])]
    html = parse(raw).get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Tình hình gửi thư nhắc việc (08:00 02/10/2023 – 08:00 03/10/2023)" in html
    assert "số liệu lúc 08:45 03/10/2023" in html
