"""Replaying the Bình Định 2023 campaign against a real SMTP server (aiosmtpd on 127.0.0.1) with a
controllable clock: exact sending dates, submission stops reminders, escalation, holidays, moved deadlines."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from thidua.notifications.sink import FaultInjectingHandler
from tests.factories import add_unit
from tests.reminders.conftest import Campaign, Mail, mails_of, smtp_for, vn
from thidua.db import session_scope

TICKS = ((7, 30), (8, 0), (13, 0))  # the clock ticks a few times a day in these replays


@pytest.fixture
def sink(sinks):
    return sinks(FaultInjectingHandler())


def replay(campaign: Campaign, sink, first: date, last: date) -> None:
    smtp = smtp_for(sink.host, sink.port)
    day = first
    while day <= last:
        for hour, minute in TICKS:
            summary = campaign.dispatch(vn(day.day, day.month, day.year, hour, minute), smtp)
            assert summary.totals.failed == summary.totals.unknown == 0
        day += timedelta(days=1)


def timeline(mails: list[Mail], to: str, subject_part: str) -> list[tuple[str, str]]:
    return [(_local(m), m.subject) for m in mails if m.to == to and subject_part in m.subject]


def _local(mail: Mail) -> str:
    from thidua.models.clock import utc_to_local

    return utc_to_local(mail.date).strftime("%d/%m %H:%M")


def test_replay_autumn_2023(campaign: Campaign, sink) -> None:
    for earlier in ("dang-ky-thi-dua", "so-ket-dot-1"):  # done in spring
        campaign.set_status_all(earlier, "da_duyet")
    replay(campaign, sink, date(2023, 9, 28), date(2023, 10, 4))
    campaign.set_status("BDH.D1.2", "so-ket-dot-2", "da_gui")  # BDH.D1.2 submits on 05/10
    replay(campaign, sink, date(2023, 10, 5), date(2023, 10, 25))
    mails = mails_of(sink.handler.accepted)

    # A CĐCS that never submits: the ladder, shifted off weekends, one mail a day at most.
    assert timeline(mails, "bdh-d1-1@example.vn", "Báo cáo sơ kết đợt 2") == [
        ("03/10 08:00", "Còn 7 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),
        ("06/10 08:00", "Còn 4 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),  # −3 = Sat 07/10 → Friday
        ("09/10 08:00", "Còn 1 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),
        ("11/10 08:00", "Quá hạn 1 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),
        ("16/10 08:00", "Quá hạn 6 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),  # +4 = Sat 14/10 → Monday
        ("17/10 08:00", "Quá hạn 7 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),
        ("20/10 08:00", "Quá hạn 10 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),
        ("23/10 08:00", "Quá hạn 13 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),
    ]
    first = next(m for m in mails if m.to == "bdh-d1-1@example.vn")
    assert first.reply_to == "ban.cspl@ldld.binhdinh.vn"
    link = f"/don-vi/nghia-vu/{campaign.assignment_id('BDH.D1.1', 'so-ket-dot-2')}?t="
    assert link in first.text  # a signed link: it signs the recipient in for the unit (tests/web checks the token)
    # After submitting, no more reminders for that report (the nomination window still reminds).
    assert timeline(mails, "bdh-d1-2@example.vn", "Báo cáo sơ kết đợt 2") == [
        ("03/10 08:00", "Còn 7 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023")
    ]
    assert ("13/10 08:00", "Còn 7 ngày: Đề xuất khen thưởng sơ kết đợt 2 hạn 20/10/2023") in timeline(
        mails, "bdh-d1-2@example.vn", "Đề xuất"
    )

    # Escalation: the district receives ONE digest a day listing its overdue CĐCS, on escalating days only.
    digests = [m for m in mails if m.to == "bdh-d1@example.vn" and "trực thuộc" in m.subject]
    assert [(_local(m), m.subject) for m in digests] == [
        ("11/10 08:00", "2 đơn vị trực thuộc quá hạn nộp báo cáo (11/10/2023)"),
        ("16/10 08:00", "2 đơn vị trực thuộc quá hạn nộp báo cáo (16/10/2023)"),
        ("17/10 08:00", "2 đơn vị trực thuộc quá hạn nộp báo cáo (17/10/2023)"),
        ("20/10 08:00", "2 đơn vị trực thuộc quá hạn nộp báo cáo (20/10/2023)"),
        # Two obligations escalate on 23/10; BDH.D1.2 is late with the nomination window only.
        ("23/10 08:00", "3 đơn vị trực thuộc quá hạn nộp báo cáo (23/10/2023)"),
        ("24/10 08:00", "3 đơn vị trực thuộc quá hạn nộp báo cáo (24/10/2023)"),
    ]
    last = digests[4].text
    assert "CĐCS Đơn vị Mẫu 1-1 (giả lập) (BDH.D1.1): Báo cáo sơ kết đợt 2, hạn 10/10/2023, quá hạn 13 ngày" in last
    assert "(BDH.D1.1): Đề xuất khen thưởng sơ kết đợt 2, hạn 20/10/2023, quá hạn 3 ngày" in last
    assert "(BDH.D1.2): Báo cáo sơ kết đợt 2" not in last
    assert "(BDH.D1.2): Đề xuất khen thưởng sơ kết đợt 2" in last
    # The province hears about its late districts the same way.
    assert any(m.to == "bdh@example.vn" and m.subject.startswith("2 đơn vị trực thuộc") for m in mails)

    # The campaign office: one digest per working day, never on a weekend.
    office = [m for m in mails if m.to == "ban.cspl@ldld.binhdinh.vn"]
    days = [m.date for m in office]
    assert len(office) == 20 and len(set(_local(m)[:5] for m in office)) == 20
    assert all(d.astimezone(vn(1, 1).tzinfo).weekday() < 5 for d in days)
    # 16 spring reports accepted + the 2 districts' báo cáo nhanh (September, the fixture) + BDH.D1.2; overdue:
    # 7 so-ket-dot-2 + 8 nomination windows.
    assert office[-1].subject == "Tổng hợp ngày 25/10/2023: đã nộp 19/34 báo cáo đã đến hạn, 15 quá hạn"

    # Once and only once: every mail at the sink is one ledger row marked sent.
    assert max(Counter(m.message_id for m in mails).values()) == 1
    assert len(campaign.outbox(status="sent")) == len(mails)


def test_submitting_after_planning_skips_at_send_time(campaign: Campaign, sink) -> None:
    from thidua.services import reminders as service

    service.plan_due(campaign.engine, now=vn(11, 10, hour=8))
    campaign.set_status("BDH.D1.1", "so-ket-dot-2", "da_duyet")
    summary = campaign.dispatch(vn(11, 10, hour=8), smtp_for(sink.host, sink.port))
    [row] = [r for r in campaign.outbox(kind="reminder") if r.recipient == "bdh-d1-1@example.vn"]
    assert row.status == "skipped" and row.last_error == "đơn vị đã gửi báo cáo"
    assert "bdh-d1-1@example.vn" not in [r.rcpt_tos[0] for r in sink.handler.accepted]
    assert summary.totals.skipped == 1
    # The parent's digest, computed at send time, no longer lists it.
    digest = next(
        m for m in mails_of(sink.handler.accepted) if m.to == "bdh-d1@example.vn" and "trực thuộc" in m.subject
    )
    assert "(BDH.D1.1): Báo cáo sơ kết đợt 2" not in digest.text
    assert "(BDH.D1.2): Báo cáo sơ kết đợt 2" in digest.text


def test_holidays_and_hours_shift_sends_around_national_day(campaign: Campaign, sink) -> None:
    campaign.edit("due: {round: 1, days_after_end: 10}", "due: 05/09/2023")
    campaign.reload()
    replay(campaign, sink, date(2023, 8, 28), date(2023, 9, 6))
    mails = mails_of(sink.handler.accepted)
    assert timeline(mails, "bdh-d2-3@example.vn", "sơ kết đợt 1") == [
        ("29/08 08:00", "Còn 7 ngày: Báo cáo sơ kết đợt 1 hạn 05/09/2023"),
        # −3 (Sat 2/9) and −1 (Mon 4/9, a holiday) both move back to Thu 31/8, before the break: one mail.
        ("31/08 08:00", "Còn 5 ngày: Báo cáo sơ kết đợt 1 hạn 05/09/2023"),
        ("06/09 08:00", "Quá hạn 1 ngày: Báo cáo sơ kết đợt 1 hạn 05/09/2023"),
    ]
    sent_days = list(dict.fromkeys(_local(m)[:5] for m in sorted(mails, key=lambda m: m.date)))
    assert sent_days == ["28/08", "29/08", "30/08", "31/08", "05/09", "06/09"]  # nothing 1–4/9
    assert all("07:30" <= _local(m)[6:] < "17:00" for m in mails)


def test_moving_a_deadline_and_adding_a_unit_reschedule_without_duplicates(campaign: Campaign, sink) -> None:
    replay(campaign, sink, date(2023, 10, 2), date(2023, 10, 4))  # −7 went out on 03/10 for 10/10
    campaign.edit("due: {round: 2, days_after_end: 10}", "due: {round: 2, days_after_end: 20}")
    with session_scope(campaign.engine) as session:
        district = session.merge(campaign.units["BDH.D1"])
        add_unit(session, "BDH.D1.4", "CĐCS Mới thành lập", "cdcs", district, "sxkd")
    result = campaign.reload()
    assert result.assignments_redated == 8
    replay(campaign, sink, date(2023, 10, 5), date(2023, 10, 23))
    mails = mails_of(sink.handler.accepted)
    assert timeline(mails, "bdh-d1-1@example.vn", "Báo cáo sơ kết đợt 2") == [
        ("03/10 08:00", "Còn 7 ngày: Báo cáo sơ kết đợt 2 hạn 10/10/2023"),
        # −7 of the new date (13/10) is the same rung: not sent twice.
        ("17/10 08:00", "Còn 3 ngày: Báo cáo sơ kết đợt 2 hạn 20/10/2023"),
        ("19/10 08:00", "Còn 1 ngày: Báo cáo sơ kết đợt 2 hạn 20/10/2023"),
        ("23/10 08:00", "Quá hạn 3 ngày: Báo cáo sơ kết đợt 2 hạn 20/10/2023"),
    ]
    assert timeline(mails, "bdh-d1-4@example.vn", "Báo cáo sơ kết đợt 2") == [
        ("13/10 08:00", "Còn 7 ngày: Báo cáo sơ kết đợt 2 hạn 20/10/2023"),
        ("17/10 08:00", "Còn 3 ngày: Báo cáo sơ kết đợt 2 hạn 20/10/2023"),
        ("19/10 08:00", "Còn 1 ngày: Báo cáo sơ kết đợt 2 hạn 20/10/2023"),
        ("23/10 08:00", "Quá hạn 3 ngày: Báo cáo sơ kết đợt 2 hạn 20/10/2023"),
    ]
    assert max(Counter(m.message_id for m in mails).values()) == 1


def test_a_refused_secret_key_leaves_due_mail_pending_and_unclaimed(campaign: Campaign, sink) -> None:
    """The Prefect flow and the worker pool send through `dispatch_batch` / `dispatch_pass` after planning: with a
    key the system refuses, they stop before claiming, so the mail waits as pending for the corrected key instead
    of sitting in 'claimed' until its lease runs out."""
    import asyncio

    from thidua.services import reminders as service
    from thidua.settings import SecretKeyRefused

    moment = vn(3, 10, 2023, 9, 0)
    assert service.plan_due(campaign.engine, now=moment).reminders > 0
    refused = campaign.settings.model_copy(update={"secret_key": "ngan"})
    smtp = smtp_for(sink.host, sink.port)
    owner = service.new_dispatcher_id()
    with pytest.raises(SecretKeyRefused):
        asyncio.run(service.dispatch_batch(campaign.engine, refused, owner=owner, now=moment, smtp=smtp))
    with pytest.raises(SecretKeyRefused):
        asyncio.run(service.dispatch_pass(campaign.engine, refused, owner=owner, now=moment, smtp=smtp))
    rows = campaign.outbox()
    assert rows and {(row.status, row.lease_owner) for row in rows} == {("pending", None)}
    assert sink.handler.accepted == []
