"""The lean SMTP sink (notifications/lean_smtp.py) and the transport's PIPELINING path.

The protocol tests feed ``LeanSmtpProtocol`` bytes directly (any split of the input, deterministic); the
delivery tests run our transport against the lean server on 127.0.0.1, in the test's own event loop, or against
a small scripted server that answers one reply per write.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from thidua.notifications.lean_smtp import EmlStore, LeanSmtpProtocol, LeanSmtpServer
from thidua.notifications.sink import EmlDirectoryHandler, SinkProcess, start_sink
from thidua.notifications.transport import DeliveryResult, OutgoingMessage, _data_payload, deliver

from .conftest import SENDER, make_messages, run, settings_for

# --- the protocol, fed directly -------------------------------------------------------------------------------


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


def connect(**options: Any) -> tuple[LeanSmtpProtocol, FakeTransport, list[Delivered]]:
    delivered: list[Delivered] = []

    def store(mail_from: str, rcpt_tos: list[str], content: bytes) -> str:
        delivered.append(Delivered(mail_from, list(rcpt_tos), content))
        return "250 OK stored"

    protocol = LeanSmtpServer(store, **options).protocol()
    transport = FakeTransport()
    protocol.connection_made(transport)
    assert transport.written.startswith(b"220 ")
    transport.written.clear()
    return protocol, transport, delivered


def codes(transport: FakeTransport) -> list[int]:
    """The reply codes written so far (the last line of each reply), and clear them."""
    lines = bytes(transport.written).split(b"\r\n")
    assert lines[-1] == b""
    transport.written.clear()
    return [int(line[:3]) for line in lines[:-1] if line[3:4] != b"-"]


TRANSACTION = (
    b"EHLO client.test\r\n"
    b"MAIL FROM:<from@x.test> SIZE=40 BODY=8BITMIME SMTPUTF8\r\n"
    b"RCPT TO:<a@x.test>\r\n"
    b"RCPT TO:<b@x.test>\r\n"
    b"DATA\r\n"
    b"Subject: t\r\n\r\n..leading dot\r\n.x\r\nend\r\n.\r\n"
    b"QUIT\r\n"
)


@pytest.mark.parametrize("chunk", [len(TRANSACTION), 1, 2, 3, 7])
def test_pipelined_or_split_input_gives_the_same_replies_and_message(chunk: int) -> None:
    protocol, transport, delivered = connect()
    for start in range(0, len(TRANSACTION), chunk):
        protocol.data_received(TRANSACTION[start : start + chunk])
    assert codes(transport) == [250, 250, 250, 250, 354, 250, 221]
    assert transport.closed
    assert delivered == [
        Delivered("from@x.test", ["a@x.test", "b@x.test"], b"Subject: t\r\n\r\n.leading dot\r\nx\r\nend\r\n")
    ]


def test_pipelined_replies_go_out_in_one_write() -> None:
    protocol, transport, _ = connect()
    writes: list[bytes] = []
    transport.write = writes.append  # type: ignore[method-assign, assignment]
    protocol.data_received(TRANSACTION)
    assert len(writes) == 1


def test_ehlo_advertises_the_extensions() -> None:
    protocol, transport, _ = connect(max_message_size=1000)
    protocol.data_received(b"EHLO c\r\n")
    lines = bytes(transport.written).decode().split("\r\n")[:-1]
    assert [line[4:] for line in lines[1:]] == ["SIZE 1000", "8BITMIME", "SMTPUTF8", "PIPELINING", "HELP"]
    assert all(line.startswith("250-") for line in lines[:-1]) and lines[-1].startswith("250 ")
    assert "STARTTLS" not in "".join(lines) and "AUTH" not in "".join(lines)


def test_empty_message_and_null_sender() -> None:
    protocol, transport, delivered = connect()
    protocol.data_received(b"HELO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@x>\r\nDATA\r\n.\r\n")
    assert codes(transport) == [250, 250, 250, 354, 250]
    assert delivered == [Delivered("", ["a@x"], b"")]


@pytest.mark.parametrize(
    ("commands", "expected"),
    [
        (b"MAIL FROM:<a@x>\r\n", [503]),  # before EHLO
        (b"EHLO c\r\nRCPT TO:<a@x>\r\n", [250, 503]),
        (b"EHLO c\r\nDATA\r\n", [250, 503]),
        (b"EHLO c\r\nMAIL FROM:<a@x>\r\nDATA\r\n", [250, 250, 503]),
        (b"EHLO c\r\nMAIL FROM:<a@x>\r\nMAIL FROM:<a@x>\r\n", [250, 250, 503]),
        (b"EHLO c\r\nMAIL FROM:<a@x>\r\nRSET\r\nRCPT TO:<b@x>\r\n", [250, 250, 250, 503]),
        (b"EHLO c\r\nMAIL FROM:<a@x>\r\nEHLO c\r\nRCPT TO:<b@x>\r\n", [250, 250, 250, 503]),
        (b"EHLO\r\nHELO\r\n", [501, 501]),
        (b"EHLO c\r\nMAIL TO:<a@x>\r\nMAIL FROM:<a@x\r\n", [250, 501, 501]),
        (b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<>\r\nRCPT TO:<b@x> NOTIFY=NEVER\r\n", [250, 250, 501, 555]),
        (b"EHLO c\r\nMAIL FROM:<a@x> BODY=BINARYMIME\r\nMAIL FROM:<a@x> FOO=1\r\n", [250, 501, 555]),
        (b"EHLO c\r\nMAIL FROM:<a@x> SIZE=9999999999\r\n", [250, 552]),
        (b"NOOP\r\nVRFY a@x\r\nHELP\r\nFOO\r\nSTARTTLS\r\nAUTH PLAIN x\r\n\r\n", [250, 252, 250, 500, 502, 502, 500]),
        (
            b"EHLO c\r\nMAIL FROM:<@relay.test:a@x>\r\nRCPT TO:<@r1,@r2:b@x>\r\nDATA\r\nhi\r\n.\r\n",
            [250] * 3 + [354, 250],
        ),
    ],
)
def test_replies(commands: bytes, expected: list[int]) -> None:
    protocol, transport, _ = connect()
    protocol.data_received(commands)
    assert codes(transport) == expected
    assert not transport.closed


def test_source_route_is_dropped_from_addresses() -> None:
    protocol, _, delivered = connect()
    protocol.data_received(b"EHLO c\r\nMAIL FROM:<@relay.test:a@x>\r\nRCPT TO:<@r1,@r2:b@x>\r\nDATA\r\nhi\r\n.\r\n")
    assert delivered == [Delivered("a@x", ["b@x"], b"hi\r\n")]


def test_too_long_command_line_is_refused_and_the_session_goes_on() -> None:
    protocol, transport, _ = connect(max_line_length=100)
    protocol.data_received(b"EHLO c\r\nNOOP " + b"x" * 150)
    protocol.data_received(b"y" * 150)
    protocol.data_received(b"\r\nNOOP\r\n")
    assert codes(transport) == [250, 500, 250]
    protocol.data_received(b"NOOP " + b"x" * 120 + b"\r\nNOOP\r\n")
    assert codes(transport) == [500, 250]


def test_too_big_message_is_refused_after_its_end_and_the_session_goes_on() -> None:
    protocol, transport, delivered = connect(max_message_size=1000)
    protocol.data_received(b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
    for _ in range(30):
        protocol.data_received(b"x" * 70 + b"\r\n")
    assert codes(transport) == [250, 250, 250, 354]
    protocol.data_received(b".\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nsmall\r\n.\r\n")
    assert codes(transport) == [552, 250, 250, 354, 250]
    assert [d.content for d in delivered] == [b"small\r\n"]


def test_too_long_data_line_is_refused_as_aiosmtpd_does() -> None:
    protocol, transport, delivered = connect()
    envelope = b"MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n"
    protocol.data_received(b"EHLO c\r\n" + envelope + b"x" * 1000 + b"\r\n.\r\n")
    assert codes(transport) == [250, 250, 250, 354, 500]
    protocol.data_received(envelope + b"a\r\n" + b"x" * 999 + b"\r\n.\r\n")
    assert codes(transport) == [250, 250, 354, 250]
    assert [d.content for d in delivered] == [b"a\r\n" + b"x" * 999 + b"\r\n"]


def test_hook_refuses_and_421_closes() -> None:
    protocol, transport, _ = connect(hook=lambda verb, address: "421 4.3.2 bye" if verb == "MAIL" else None)
    protocol.data_received(b"EHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\n")
    assert codes(transport) == [250, 421]
    assert transport.closed


# --- storage --------------------------------------------------------------------------------------------------


def test_store_writes_trace_lines_and_content_atomically(tmp_path: Path) -> None:
    store = EmlStore(tmp_path / "new")
    name = store.store("a@x", ["b@x", "c@x"], b"Message-ID: <1@x>\r\n\r\nhi\r\n")
    assert re.fullmatch(r"\d{8}T\d{12}-000001-[0-9a-f]{12}\.eml", name)
    assert [p.name for p in (tmp_path / "new").iterdir()] == [name]
    assert (tmp_path / "new" / name).read_bytes() == (
        b"Return-Path: <a@x>\r\nX-Envelope-To: b@x, c@x\r\nMessage-ID: <1@x>\r\n\r\nhi\r\n"
    )


# --- our transport against the lean server --------------------------------------------------------------------


@dataclass
class Address:
    host: str
    port: int


async def with_lean_server(
    directory: Path,
    body: Callable[[Address, LeanSmtpServer], Awaitable[Any]],
    *,
    chunks: list[bytes] | None = None,
    **options: Any,
) -> Any:
    """Run ``body`` with a lean server storing into ``directory``; ``chunks`` collects every read it gets."""
    store = EmlStore(directory)
    server = LeanSmtpServer(lambda f, r, c: f"250 OK stored as {store.store(f, r, c)}", **options)
    if chunks is not None:
        make_protocol = server.protocol

        def spying_protocol() -> LeanSmtpProtocol:
            protocol = make_protocol()
            original = protocol.data_received

            def data_received(data: bytes) -> None:
                chunks.append(data)
                original(data)

            protocol.data_received = data_received  # type: ignore[method-assign]
            return protocol

        server.protocol = spying_protocol  # type: ignore[method-assign]
    listening = await server.start("127.0.0.1", 0)
    try:
        return await body(Address("127.0.0.1", listening.sockets[0].getsockname()[1]), server)
    finally:
        listening.close()
        await listening.wait_closed()


def eml_files(directory: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(directory.glob("*.eml"))]


def dotted_message() -> OutgoingMessage:
    (message,) = make_messages(1, recipients=["a@donvi.test", "b@donvi.test"])
    raw = message.raw.replace(b"\r\n\r\n", b"\r\n\r\n.first line has a dot\r\n..and two\r\n", 1)
    return OutgoingMessage(message.key, message.sender, message.recipients, raw)


def test_transport_pipelines_to_the_lean_server_which_stores_what_aiosmtpd_stores(tmp_path: Path) -> None:
    message = dotted_message()
    chunks: list[bytes] = []

    async def send(address: Address, server: LeanSmtpServer) -> list[DeliveryResult]:
        return await deliver([message], settings_for(address))  # type: ignore[arg-type]

    (result,) = run(with_lean_server(tmp_path / "lean", send, chunks=chunks))
    assert result.status == "sent" and result.server_reply and result.server_reply.startswith("250 OK stored as ")
    # One write carried MAIL, both RCPT and DATA (PIPELINING).
    assert any(c.startswith(b"MAIL FROM:") and c.count(b"RCPT TO:") == 2 and c.endswith(b"DATA\r\n") for c in chunks)

    with start_sink(EmlDirectoryHandler(tmp_path / "aiosmtpd")) as sink:
        assert [r.status for r in run(deliver([message], settings_for(sink)))] == ["sent"]
    (lean,) = eml_files(tmp_path / "lean")
    (reference,) = eml_files(tmp_path / "aiosmtpd")
    assert lean == reference
    assert lean.startswith(f"Return-Path: <{SENDER}>\r\nX-Envelope-To: a@donvi.test, b@donvi.test\r\n".encode())
    assert lean.endswith(message.raw.split(b"\r\n\r\n", 1)[1]) and b"\r\n.first line has a dot\r\n..and two\r\n" in lean
    assert _data_payload(message.raw).count(b"\r\n...and two") == 1  # it was stuffed on the wire


def test_many_messages_over_parallel_pipelined_connections(tmp_path: Path) -> None:
    messages = make_messages(300)

    async def send(address: Address, server: LeanSmtpServer) -> list[DeliveryResult]:
        return await deliver(messages, settings_for(address, connections=4, batch_size=40))  # type: ignore[arg-type]

    results = run(with_lean_server(tmp_path, send))
    assert {r.status for r in results} == {"sent"}
    stored = eml_files(tmp_path)
    assert len(stored) == 300
    ids = {re.search(rb"Message-ID: (<[^>]+>)", content).group(1) for content in stored}  # type: ignore[union-attr]
    assert len(ids) == 300


def refusing(rules: dict[tuple[str, str], str], calls: list[tuple[str, str]] | None = None) -> Any:
    def hook(verb: str, address: str) -> str | None:
        if calls is not None:
            calls.append((verb, address))
        return rules.get((verb, address))

    return hook


def test_pipelined_partial_refusal(tmp_path: Path) -> None:
    (message,) = make_messages(1, recipients=["ok@donvi.test", "busy@donvi.test"])
    hook = refusing({("RCPT", "busy@donvi.test"): "450 4.2.1 Mailbox busy"})

    async def send(address: Address, server: LeanSmtpServer) -> list[DeliveryResult]:
        return await deliver([message], settings_for(address))  # type: ignore[arg-type]

    (result,) = run(with_lean_server(tmp_path, send, hook=hook))
    assert result.status == "partial"
    assert result.refused == {"busy@donvi.test": (450, "4.2.1 Mailbox busy")}
    (stored,) = eml_files(tmp_path)
    assert b"X-Envelope-To: ok@donvi.test\r\n" in stored


@pytest.mark.parametrize("data_reply", [None, "354 go ahead anyway"])
def test_pipelined_all_recipients_refused_then_the_next_message_goes(tmp_path: Path, data_reply: str | None) -> None:
    """Both recipients refused: "failed" with the refusals. A server that still answers DATA with 354 (RFC 2920
    3.1) gets a lone "." and no message; the connection stays in step for the next message."""
    bad = make_messages(1, recipients=["x@donvi.test", "y@donvi.test"], prefix="bad")
    good = make_messages(1, prefix="good")
    rules = {("RCPT", "x@donvi.test"): "550 5.1.1 No such user", ("RCPT", "y@donvi.test"): "550 5.1.1 No such user"}
    calls: list[tuple[str, str]] = []
    hook = refusing(rules, calls)

    def with_data(verb: str, address: str) -> str | None:
        if verb == "DATA" and calls[-1] == ("RCPT", "y@donvi.test"):
            return data_reply
        return hook(verb, address)  # type: ignore[no-any-return]

    async def send(address: Address, server: LeanSmtpServer) -> list[DeliveryResult]:
        return await deliver(bad + good, settings_for(address, connections=1))  # type: ignore[arg-type]

    first, second = run(with_lean_server(tmp_path, send, hook=with_data))
    assert first.status == "failed" and first.code == 550
    assert first.refused == {"x@donvi.test": (550, "5.1.1 No such user"), "y@donvi.test": (550, "5.1.1 No such user")}
    assert second.status == "sent"
    (stored,) = eml_files(tmp_path)
    assert b"Message-ID: <thidua." in stored and b"X-Envelope-To: cdcs0@donvi.binhdinh.vn\r\n" in stored


@pytest.mark.parametrize(("code", "status"), [(550, "failed"), (451, "retry")])
def test_pipelined_mail_refused(tmp_path: Path, code: int, status: str) -> None:
    hook = refusing({("MAIL", SENDER): f"{code} refused"})

    async def send(address: Address, server: LeanSmtpServer) -> list[DeliveryResult]:
        return await deliver(make_messages(1), settings_for(address, max_attempts=2))  # type: ignore[arg-type]

    (result,) = run(with_lean_server(tmp_path, send, hook=hook))
    assert (result.status, result.code, result.server_reply) == (status, code, f"{code} refused")
    assert result.attempts == (1 if code >= 500 else 2)
    assert eml_files(tmp_path) == []


def test_pipelined_421_at_mail_is_retried_on_a_new_connection(tmp_path: Path) -> None:
    failures = [1]

    def hook(verb: str, address: str) -> str | None:
        if verb == "MAIL" and failures:
            failures.pop()
            return "421 4.3.2 Service shutting down"
        return None

    async def send(address: Address, server: LeanSmtpServer) -> list[DeliveryResult]:
        return await deliver(make_messages(2), settings_for(address, connections=1))  # type: ignore[arg-type]

    results = run(with_lean_server(tmp_path, send, hook=hook))
    assert [(r.status, r.attempts) for r in results] == [("sent", 2), ("sent", 1)]
    assert len(eml_files(tmp_path)) == 2


def test_pipelined_421_at_rcpt_retries_the_whole_message(tmp_path: Path) -> None:
    (message,) = make_messages(1, recipients=["a@donvi.test", "b@donvi.test"])
    failures = [1]

    def hook(verb: str, address: str) -> str | None:
        if verb == "RCPT" and address == "a@donvi.test" and failures:
            failures.pop()
            return "421 4.3.2 Service shutting down"
        return None

    async def send(address: Address, server: LeanSmtpServer) -> list[DeliveryResult]:
        return await deliver([message], settings_for(address, connections=1))  # type: ignore[arg-type]

    (result,) = run(with_lean_server(tmp_path, send, hook=hook))
    assert (result.status, result.attempts, result.refused) == ("sent", 2, {})
    (stored,) = eml_files(tmp_path)
    assert b"X-Envelope-To: a@donvi.test, b@donvi.test\r\n" in stored


# --- a scripted server: one reply per write, or a drop after the payload -------------------------------------


async def scripted_server(
    *, reply_pause_s: float, drop_after_payload: bool = False
) -> tuple[asyncio.AbstractServer, Address, list[bytes]]:
    received: list[bytes] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted\r\n")
        while line := await reader.readline():
            if line.startswith(b"EHLO"):
                writer.write(b"250-scripted\r\n250-PIPELINING\r\n250 SIZE 100000\r\n")
            elif line.startswith(b"DATA"):
                writer.write(b"354 go on\r\n")
                received.append(await reader.readuntil(b"\r\n.\r\n"))
                if drop_after_payload:
                    writer.close()
                    return
                writer.write(b"250 queued\r\n")
            elif line.startswith(b"QUIT"):
                writer.write(b"221 bye\r\n")
                await writer.drain()
                writer.close()
                return
            elif line.startswith(b"RCPT TO:<refused"):
                writer.write(b"550 no\r\n")
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
            await asyncio.sleep(reply_pause_s)

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    return server, Address("127.0.0.1", server.sockets[0].getsockname()[1]), received


@pytest.mark.parametrize("reply_pause_s", [0.0, 0.01])
def test_pipelined_replies_arriving_one_by_one(reply_pause_s: float) -> None:
    recipients = [f"u{i}@donvi.test" for i in range(5)] + ["refused@donvi.test"]
    messages = make_messages(3, recipients=recipients)

    async def main() -> tuple[list[DeliveryResult], list[bytes]]:
        server, address, received = await scripted_server(reply_pause_s=reply_pause_s)
        async with server:
            results = await deliver(messages, settings_for(address, connections=1))  # type: ignore[arg-type]
        return results, received

    results, received = run(main())
    assert [r.status for r in results] == ["partial"] * 3
    assert {tuple(r.refused) for r in results} == {("refused@donvi.test",)}
    assert len(received) == 3


def test_pipelined_connection_lost_after_the_payload_is_unknown() -> None:
    async def main() -> tuple[list[DeliveryResult], list[bytes]]:
        server, address, received = await scripted_server(reply_pause_s=0.0, drop_after_payload=True)
        async with server:
            results = await deliver(make_messages(1), settings_for(address))  # type: ignore[arg-type]
        return results, received

    (result,), received = run(main())
    assert result.status == "unknown" and result.attempts == 1
    assert len(received) == 1


# --- the sink process -----------------------------------------------------------------------------------------


def test_sink_process_runs_the_lean_server(tmp_path: Path) -> None:
    sink = SinkProcess(tmp_path)
    try:
        results = run(deliver(make_messages(3), settings_for(sink)))  # type: ignore[arg-type]
    finally:
        sink.stop()
    assert [r.status for r in results] == ["sent"] * 3
    assert len(eml_files(tmp_path)) == 3
    assert sink.process.returncode == 0
