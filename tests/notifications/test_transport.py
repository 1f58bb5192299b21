"""deliver() against real aiosmtpd servers on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import asyncio
import ssl
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import aiosmtplib
import pytest

from thidua.notifications.sink import (
    CountingHandler,
    EmlDirectoryHandler,
    FaultInjectingHandler,
    RunningSink,
    free_port,
    message_id_of,
    server_tls_context,
    start_sink,
)
from thidua.notifications.transport import (
    DeliveryAborted,
    DeliveryResult,
    DeliveryStream,
    OutcomeUnknownError,
    OutgoingMessage,
    PermanentError,
    RetryableError,
    SmtpSettings,
    classify,
    deliver,
)

from .conftest import SENDER, make_messages, run, settings_for

SinkFactory = Callable[..., RunningSink]


def test_many_messages_over_parallel_connections_arrive_exactly_once(sink_factory: SinkFactory) -> None:
    handler = CountingHandler(keep_message_ids=True)
    sink = sink_factory(handler)
    messages = make_messages(600)
    reported: list[DeliveryResult] = []

    results = run(deliver(messages, settings_for(sink, connections=4, batch_size=50), on_result=reported.append))

    assert [r.key for r in results] == [m.key for m in messages]
    assert {r.status for r in results} == {"sent"}
    assert sorted(r.key for r in reported) == sorted(m.key for m in messages)
    assert handler.messages == 600 and handler.recipients == 600
    assert handler.message_ids is not None and len(handler.message_ids) == 600
    assert handler.duplicates() == {}


def test_async_on_result_is_awaited_before_the_next_message(sink_factory: SinkFactory) -> None:
    sink = sink_factory(CountingHandler())
    written: list[str] = []

    async def write_ledger(result: DeliveryResult) -> None:
        await asyncio.sleep(0)
        written.append(result.key)

    run(deliver(make_messages(5), settings_for(sink, connections=1), on_result=write_ledger))
    assert written == [f"k{i}" for i in range(5)]


def test_on_result_failure_stops_sending_and_propagates(sink_factory: SinkFactory) -> None:
    handler = CountingHandler()
    sink = sink_factory(handler)

    def broken_ledger(result: DeliveryResult) -> None:
        raise RuntimeError("ledger is down")

    with pytest.raises(RuntimeError, match="ledger is down"):
        run(deliver(make_messages(20), settings_for(sink, connections=2), on_result=broken_ledger))
    assert handler.messages == 2  # one per connection, then both stopped


def test_connection_reused_and_renewed_after_batch_size(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler()
    sink = sink_factory(handler)
    sessions: list[object] = []
    original = handler.handle_MAIL

    async def track_session(server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        if session not in sessions:
            sessions.append(session)
        return await original(server, session, envelope, address, options)

    handler.handle_MAIL = track_session  # type: ignore[method-assign]
    results = run(deliver(make_messages(7), settings_for(sink, connections=1, batch_size=3)))
    assert {r.status for r in results} == {"sent"}
    assert len(sessions) == 3  # 3 + 3 + 1 messages


def test_starttls_with_auth_plain_and_login(sink_factory: SinkFactory, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    for mechanism in ("PLAIN", "LOGIN"):
        handler = CountingHandler()
        sink = sink_factory(
            handler,
            tls_context=server_tls_context(cert, key),
            require_starttls=True,
            auth_users={"thidua": "mật-khẩu"},
            auth_mechanisms=(mechanism,),
        )
        settings = settings_for(sink, security="starttls", username="thidua", password="mật-khẩu", ca_file=str(cert))
        results = run(deliver(make_messages(3), settings))
        assert [r.status for r in results] == ["sent"] * 3, mechanism
        assert handler.messages == 3


def test_wrong_password_aborts_without_sending(sink_factory: SinkFactory, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    handler = CountingHandler()
    sink = sink_factory(handler, tls_context=server_tls_context(cert, key), auth_users={"thidua": "right"})
    settings = settings_for(sink, security="starttls", username="thidua", password="wrong", ca_file=str(cert))
    reported: list[DeliveryResult] = []
    with pytest.raises(DeliveryAborted) as caught:
        run(deliver(make_messages(4), settings, on_result=reported.append))
    assert caught.value.code == 535
    assert caught.value.results == [] and reported == []
    assert handler.messages == 0


def test_untrusted_certificate_aborts(sink_factory: SinkFactory, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    sink = sink_factory(CountingHandler(), tls_context=server_tls_context(cert, key))
    with pytest.raises(DeliveryAborted, match="certificate"):
        run(deliver(make_messages(1), settings_for(sink, security="starttls")))


# Implicit TLS is encrypted but aiosmtpd only counts STARTTLS as TLS, hence its warning.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_implicit_tls(sink_factory: SinkFactory, tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    handler = CountingHandler()
    sink = sink_factory(handler, tls_context=server_tls_context(cert, key), implicit_tls=True, auth_users={"u": "p"})
    settings = settings_for(sink, security="tls", username="u", password="p", validate_certs=False)
    assert [r.status for r in run(deliver(make_messages(2), settings))] == ["sent", "sent"]
    assert handler.messages == 2


def test_server_down_then_back_is_retried(tmp_path: Path) -> None:
    port = free_port()
    handler = EmlDirectoryHandler(tmp_path)
    started: list[RunningSink] = []
    starter = threading.Timer(0.3, lambda: started.append(start_sink(handler, port=port)))
    starter.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=port,
            sender=SENDER,
            connections=1,
            max_attempts=20,
            backoff_base_s=0.1,
            backoff_max_s=0.4,
            local_hostname="client.thidua.test",
        )
        (result,) = run(deliver(make_messages(1), settings))
    finally:
        starter.join()
        for sink in started:
            sink.stop()
    assert result.status == "sent"
    assert result.attempts > 1
    (stored,) = tmp_path.glob("*.eml")
    assert b"Message-ID: <thidua." in stored.read_bytes()


def test_server_down_gives_up_quickly_and_leaves_all_pending() -> None:
    settings = SmtpSettings(
        host="127.0.0.1",
        port=free_port(),
        sender=SENDER,
        connections=2,
        max_attempts=3,
        backoff_base_s=0.1,
        local_hostname="client.thidua.test",
    )
    reported: list[DeliveryResult] = []
    start = time.monotonic()
    results = run(deliver(make_messages(50), settings, on_result=reported.append))
    # Retrying every message (>= 0.15 s of backoff each) would take > 3.7 s.
    assert time.monotonic() - start < 2
    assert {r.status for r in results} == {"retry"}
    assert len(reported) == 50
    assert [r.attempts for r in results[:2]] == [3, 3]
    assert {r.attempts for r in results[2:]} == {0}
    assert all("not attempted" in (r.error or "") for r in results[2:])


@pytest.mark.parametrize(("code", "phase"), [(421, "MAIL"), (451, "DATA"), (450, "MAIL"), (452, "DATA")])
def test_temporary_failures_are_retried_then_sent(sink_factory: SinkFactory, code: int, phase: str) -> None:
    handler = FaultInjectingHandler(fail_first=2, fail_code=code, fail_at=phase)  # type: ignore[arg-type]
    sink = sink_factory(handler)
    results = run(deliver(make_messages(3), settings_for(sink, connections=1)))
    assert [(r.status, r.attempts) for r in results] == [("sent", 3), ("sent", 1), ("sent", 1)]
    assert handler.transactions == 5
    assert [m.message_id for m in handler.accepted] == [message_id_of(m.raw) for m in make_messages(3)]


def test_server_deferring_everything_leaves_messages_pending(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler(fail_first=sys.maxsize, fail_code=451)
    sink = sink_factory(handler)
    results = run(deliver(make_messages(10), settings_for(sink, connections=1, max_attempts=3)))
    assert {r.status for r in results} == {"retry"}
    first = results[0]
    assert (first.attempts, first.code) == (3, 451)
    assert first.server_reply is not None and first.server_reply.startswith("451 ")
    # The connection gives up after 3 deferred messages instead of retrying all 10.
    assert [r.attempts for r in results] == [3, 3, 3] + [0] * 7
    assert handler.transactions == 9 and handler.accepted == []


def test_permanent_rejection_fails_without_retry(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler(fail_first=1, fail_code=550)
    sink = sink_factory(handler)
    first, second = run(deliver(make_messages(2), settings_for(sink, connections=1)))
    assert (first.status, first.code, first.attempts) == ("failed", 550, 1)
    assert first.error is not None and "Message rejected" in first.error
    assert second.status == "sent"  # the connection stays usable
    assert handler.transactions == 2


def test_partial_refusal_is_recorded_per_recipient(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler(refuse_recipients={"gone@x.vn": 550, "busy@x.vn": 450})
    sink = sink_factory(handler)
    messages = make_messages(1, recipients=["ok@x.vn", "gone@x.vn", "busy@x.vn"])
    (result,) = run(deliver(messages, settings_for(sink)))
    assert result.status == "partial"
    assert result.refused == {
        "gone@x.vn": (550, "5.1.1 No such user"),
        "busy@x.vn": (450, "4.2.1 Mailbox busy, try later"),
    }
    assert [m.rcpt_tos for m in handler.accepted] == [["ok@x.vn"]]


def test_all_recipients_refused(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler(refuse_recipients={"gone@x.vn": 550, "busy@x.vn": 450})
    sink = sink_factory(handler)
    gone, busy = run(
        deliver(
            make_messages(1, recipients=["gone@x.vn"]) + make_messages(1, recipients=["busy@x.vn"], prefix="b"),
            settings_for(sink, connections=1, max_attempts=2),
        )
    )
    assert (gone.status, gone.code, gone.attempts) == ("failed", 550, 1)
    assert gone.refused == {"gone@x.vn": (550, "5.1.1 No such user")}
    assert (busy.status, busy.code, busy.attempts) == ("retry", 450, 2)
    assert handler.accepted == []


def test_disconnect_after_payload_is_unknown_and_not_resent(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler(drop_first=1, drop_at="DATA")
    sink = sink_factory(handler)
    first, second = run(deliver(make_messages(2), settings_for(sink, connections=1)))
    assert first.status == "unknown" and first.attempts == 1
    assert first.error is not None and "after the message was sent" in first.error
    assert second.status == "sent"
    assert handler.payloads == 2  # the server did receive the first payload...
    assert handler.transactions == 2  # ...and it was not sent a second time
    assert [m.message_id for m in handler.accepted] == [message_id_of(make_messages(2)[1].raw)]


def test_final_reply_timeout_is_unknown(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler(reply_delay_s=3.0)
    sink = sink_factory(handler)
    (result,) = run(deliver(make_messages(1), settings_for(sink, timeout_s=0.5)))
    assert result.status == "unknown"
    assert handler.transactions == 1


def test_disconnect_before_payload_is_retried(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler(drop_first=1, drop_at="MAIL")
    sink = sink_factory(handler)
    (result,) = run(deliver(make_messages(1), settings_for(sink)))
    assert (result.status, result.attempts) == ("sent", 2)
    assert len(handler.accepted) == 1 and handler.payloads == 1


def test_payload_is_dot_stuffed_and_line_endings_normalised(sink_factory: SinkFactory) -> None:
    handler = FaultInjectingHandler()
    sink = sink_factory(handler)
    raw = b"From: a@b.vn\nTo: c@d.vn\nSubject: dots\n\n.leading dot\n..two dots\n.\nend"
    message = OutgoingMessage(key="dots", sender=SENDER, recipients=["c@d.vn"], raw=raw)
    (result,) = run(deliver([message], settings_for(sink)))
    assert result.status == "sent"
    assert handler.accepted[0].content == raw.replace(b"\n", b"\r\n") + b"\r\n"


def test_classify() -> None:
    assert classify(aiosmtplib.SMTPConnectError("refused")) is RetryableError
    assert classify(ConnectionResetError()) is RetryableError
    assert classify(aiosmtplib.SMTPServerDisconnected("gone")) is RetryableError
    assert classify(aiosmtplib.SMTPReadTimeoutError("slow")) is RetryableError
    assert classify(asyncio.TimeoutError()) is RetryableError
    for code in (421, 450, 451, 452):
        assert classify(aiosmtplib.SMTPDataError(code, "later")) is RetryableError
    for code in (550, 553, 554):
        assert classify(aiosmtplib.SMTPDataError(code, "no")) is PermanentError
    assert classify(aiosmtplib.SMTPAuthenticationError(535, "bad credentials")) is PermanentError
    assert classify(aiosmtplib.SMTPSenderRefused(553, "no", "a@b")) is PermanentError
    wrapped = aiosmtplib.SMTPConnectError("tls")
    wrapped.__cause__ = ssl.SSLCertVerificationError("self-signed")
    assert classify(wrapped) is PermanentError
    mixed = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no", "a@b"), aiosmtplib.SMTPRecipientRefused(451, "later", "c@d")]
    )
    assert classify(mixed) is RetryableError
    assert classify(OutcomeUnknownError("lost")) is OutcomeUnknownError
    assert classify(DeliveryAborted("bad auth", 535, [])) is PermanentError
    assert classify(ValueError("bad address")) is PermanentError


def test_settings_validation_and_from_header() -> None:
    settings = SmtpSettings(host="smtp.x.vn", sender="a@x.vn", sender_name='LĐLĐ "Bình Định"', password=None)
    assert settings.from_header == '"LĐLĐ \\"Bình Định\\"" <a@x.vn>'
    assert "secret" not in repr(SmtpSettings(host="h", sender="a@x.vn", username="u", password="secret"))
    for bad in ({"security": "ssl"}, {"connections": 0}, {"max_attempts": 0}, {"username": "u"}):
        with pytest.raises(ValueError):
            SmtpSettings(host="h", sender="a@x.vn", **bad)  # type: ignore[arg-type]
    assert 0.5 <= SmtpSettings(host="h", sender="a@x.vn", backoff_base_s=1, backoff_max_s=8).backoff_s(3) <= 4


def test_a_stream_sets_up_a_connection_per_message_up_to_its_connections(sink_factory: SinkFactory) -> None:
    """An empty stream (a pass with nothing due) opens nothing; one message, one connection; the rest come as
    messages do, never more than `connections`; exhausted only once every connection could have been tried."""
    sink = sink_factory(CountingHandler())

    async def go() -> tuple[list[int], bool, list[DeliveryResult]]:
        stream = DeliveryStream(settings_for(sink, connections=3))
        await stream.start()
        counts = [len(stream.tasks)]
        stream.add(make_messages(1))
        counts.append(len(stream.tasks))
        stream.add(make_messages(5, prefix="m"))
        counts.append(len(stream.tasks))
        exhausted = stream.exhausted
        return counts, exhausted, await stream.close()

    counts, exhausted, results = run(go())
    assert counts == [0, 1, 3]
    assert not exhausted
    assert [r.status for r in results] == ["sent"] * 6
    empty = DeliveryStream(settings_for(sink))
    run(empty.start())
    assert empty.tasks == [] and not empty.exhausted and run(empty.close()) == []
