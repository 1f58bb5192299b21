"""Faults at the SMTP server: down then back, 4xx then success, 550, disconnect during DATA, bad addresses,
STARTTLS + AUTH. Counts are asserted at the sink: nothing lost, nothing silently sent twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from thidua.models.tables import AuditLog
from thidua.notifications.message import message_id_for
from thidua.notifications.sink import FaultInjectingHandler, free_port, make_self_signed_cert, server_tls_context
from tests.reminders.conftest import Campaign, mails_of, smtp_for, vn
from thidua.db import session_scope
from thidua.services import reminders as service

NOW = vn(3, 10)  # 09:00: the −7 reminder of so-ket-dot-2 for 8 units, and the office digest
EXPECTED = 9


def statuses(campaign: Campaign) -> Counter:
    return Counter(r.status for r in campaign.outbox())


def accepted_ids(sink) -> Counter:
    return Counter(r.message_id for r in sink.handler.accepted)


def ledger_ids(campaign: Campaign, status: str = "sent") -> set[str]:
    return {message_id_for(r.key, campaign.settings.mail_domain) for r in campaign.outbox(status=status)}


def test_server_down_then_back(campaign: Campaign, sinks) -> None:
    port = free_port()
    down = campaign.dispatch(NOW, smtp_for("127.0.0.1", port))
    assert down.stopped_early and down.totals.retried == EXPECTED and down.totals.answered == 0
    assert statuses(campaign) == {"pending": EXPECTED}
    assert all(r.scheduled_at > NOW and r.message_id is None for r in campaign.outbox())
    # Still down at the next tick: nothing is due yet (backoff), nothing is lost.
    assert campaign.dispatch(NOW + timedelta(seconds=30), smtp_for("127.0.0.1", port)).totals.claimed == 0
    sink = sinks(FaultInjectingHandler(), port=port)
    back = campaign.dispatch(NOW + timedelta(minutes=2), smtp_for("127.0.0.1", port))
    assert back.totals.sent == EXPECTED and statuses(campaign) == {"sent": EXPECTED}
    assert set(accepted_ids(sink)) == ledger_ids(campaign) and max(accepted_ids(sink).values()) == 1


@pytest.mark.parametrize("code, at", [(451, "DATA"), (421, "MAIL")])
def test_temporary_refusals_then_success(campaign: Campaign, sinks, code: int, at: str) -> None:
    sink = sinks(FaultInjectingHandler(fail_first=3, fail_code=code, fail_at=at))
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    assert summary.totals.sent == EXPECTED and statuses(campaign) == {"sent": EXPECTED}
    assert len(sink.handler.accepted) == EXPECTED and max(accepted_ids(sink).values()) == 1
    assert sum(r.attempts for r in campaign.outbox()) == EXPECTED + 3


def test_permanent_refusal_is_failed_reported_and_never_retried(campaign: Campaign, sinks) -> None:
    sink = sinks(FaultInjectingHandler(refuse_recipients={"bdh-d1-1@example.vn": 550}))
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    assert summary.totals.failed == 1 and summary.totals.sent == EXPECTED  # 8 others + the failure report
    [failed] = campaign.outbox(status="failed")
    assert failed.recipient == "bdh-d1-1@example.vn" and "550" in failed.last_error
    assert failed.last_error.startswith("máy chủ thư từ chối")
    report = next(m for m in mails_of(sink.handler.accepted) if m.subject.startswith("Báo lỗi gửi thư"))
    assert report.subject == "Báo lỗi gửi thư ngày 03/10/2023: 1 thư không gửi được"
    assert "bdh-d1-1@example.vn" in report.text and report.to == "ban.cspl@ldld.binhdinh.vn"
    # Later passes neither resend it nor report it again the same day.
    again = campaign.dispatch(NOW + timedelta(hours=3), smtp_for(sink.host, sink.port))
    assert again.totals.claimed == 0 and len(sink.handler.accepted) == EXPECTED
    report_status = service.status_report(campaign.engine, "bd-2023")
    assert report_status.counts == {"sent": EXPECTED, "failed": 1}
    assert [r.recipient for r in report_status.latest_failures] == ["bdh-d1-1@example.vn"]


def test_disconnect_during_data_is_unknown_until_an_operator_decides(campaign: Campaign, sinks) -> None:
    sink = sinks(FaultInjectingHandler(drop_first=1, drop_at="DATA"))
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    assert summary.totals.unknown == 1 and summary.totals.sent == EXPECTED  # 8 + the failure report
    [unknown] = campaign.outbox(status="unknown")
    assert sink.handler.payloads == EXPECTED + 1  # the server did get its payload
    # Never resent automatically, whatever the clock says.
    campaign.dispatch(NOW + timedelta(days=1, hours=-1), smtp_for(sink.host, sink.port))
    assert campaign.outbox(status="unknown") == [unknown]
    assert message_id_for(unknown.key, campaign.settings.mail_domain) not in accepted_ids(sink)
    # The operator checked (here: the mailbox never got it) and resends.
    assert service.resolve_unknown(campaign.engine, action="resend", actor="cli:ops", keys=[unknown.key]) == 1
    campaign.dispatch(NOW + timedelta(days=1, hours=-1), smtp_for(sink.host, sink.port))
    assert campaign.outbox(key=unknown.key)[0].status == "sent"
    assert max(accepted_ids(sink).values()) == 1
    assert ledger_ids(campaign) == set(accepted_ids(sink))


def test_bad_and_missing_addresses_never_stop_a_batch(campaign: Campaign, sinks) -> None:
    campaign.set_unit("BDH.D1.1", emails=["khong-phai-email"])
    campaign.set_unit("BDH.D1.2", emails=[])
    sink = sinks(FaultInjectingHandler())
    summary = campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    [failed] = campaign.outbox(status="failed")
    assert failed.last_error == "địa chỉ e-mail không hợp lệ: 'khong-phai-email'"
    assert summary.totals.sent == 6 + 1 + 1  # the other units, the office digest, the failure report
    digest = next(m for m in mails_of(sink.handler.accepted) if m.subject.startswith("Tổng hợp"))
    assert "3. ĐƠN VỊ THIẾU HOẶC SAI ĐỊA CHỈ E-MAIL (2)" in digest.text
    assert "(BDH.D1.1): địa chỉ không hợp lệ: khong-phai-email" in digest.text
    assert "(BDH.D1.2): chưa có địa chỉ e-mail" in digest.text


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_self_signed_cert(tmp_path_factory.mktemp("tls"))


def test_starttls_and_auth(campaign: Campaign, sinks, tls_files) -> None:
    cert, key = tls_files
    sink = sinks(
        FaultInjectingHandler(),
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        auth_users={"thidua": "mat-khau-dung"},
    )
    smtp = smtp_for(
        sink.host, sink.port, security="starttls", username="thidua", password="mat-khau-dung", ca_file=str(cert)
    )
    assert campaign.dispatch(NOW, smtp).totals.sent == EXPECTED
    assert len(sink.handler.accepted) == EXPECTED


def test_refused_credentials_stop_the_pass_and_lose_nothing(campaign: Campaign, sinks, tls_files) -> None:
    cert, key = tls_files
    sink = sinks(
        FaultInjectingHandler(),
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        auth_users={"thidua": "mat-khau-dung"},
    )
    wrong = smtp_for(sink.host, sink.port, security="starttls", username="thidua", password="sai", ca_file=str(cert))
    with pytest.raises(service.SmtpRefused, match="từ chối phiên gửi"):
        campaign.dispatch(NOW, wrong)
    assert statuses(campaign) == {"pending": EXPECTED} and sink.handler.accepted == []
    assert all(r.message_id is None for r in campaign.outbox())
    with session_scope(campaign.engine) as session:
        released = session.execute(select(AuditLog.after).where(AuditLog.action == "outbox.released")).scalars().all()
    assert sum(a["count"] for a in released) == EXPECTED
    right = smtp_for(
        sink.host, sink.port, security="starttls", username="thidua", password="mat-khau-dung", ca_file=str(cert)
    )
    assert campaign.dispatch(NOW + timedelta(minutes=2), right).totals.sent == EXPECTED


def test_every_outcome_is_recorded_on_both_databases(any_campaign: Campaign, sinks) -> None:
    """451 then success, 550, and a drop after DATA in one pass, on SQLite and PostgreSQL."""
    sink = sinks(
        FaultInjectingHandler(
            fail_first=2, fail_code=451, drop_first=1, drop_at="DATA", refuse_recipients={"bdh-d2-1@example.vn": 550}
        )
    )
    summary = any_campaign.dispatch(NOW, smtp_for(sink.host, sink.port))
    assert (summary.totals.failed, summary.totals.unknown) == (1, 1)
    assert statuses(any_campaign) == {"sent": EXPECTED - 2 + 1, "failed": 1, "unknown": 1}  # + the failure report
    assert ledger_ids(any_campaign) == set(accepted_ids(sink)) and max(accepted_ids(sink).values()) == 1
    assert all(r.lease_owner is None and r.lease_until is None for r in any_campaign.outbox())
