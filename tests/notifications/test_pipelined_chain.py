"""One round trip per message (RFC 2920 3.1): a PIPELINING connection sends the end of a message and the next
message's MAIL, RCPT and DATA in one write, and reads their replies after.

What can go wrong in between is tested against a scripted server: the payload refused (4xx, 5xx, 421), the
connection lost after the payload, and a connection that stops while the next envelope is already on the wire.
Each message must still get exactly one outcome, the next message must never be lost or sent twice, and the
server must never read a command as message text.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from thidua.notifications.message import message_id_for
from thidua.notifications.transport import DeliveryResult, OutgoingMessage, deliver

from .conftest import make_messages, run, settings_for
from .test_lean_smtp import Address, eml_files, with_lean_server


def test_the_next_envelope_goes_out_with_the_previous_payload(tmp_path: Path) -> None:
    messages = make_messages(5)
    chunks: list[bytes] = []

    async def send(address: Address, server: object) -> list[DeliveryResult]:
        return await deliver(messages, settings_for(address, connections=1))  # type: ignore[arg-type]

    results = run(with_lean_server(tmp_path, send, chunks=chunks))
    assert [r.status for r in results] == ["sent"] * 5
    chained = [c for c in chunks if b"\r\n.\r\nMAIL FROM:" in c]
    assert len(chained) == 4  # every message after the first: one write, one round trip
    assert all(c.endswith(b"DATA\r\n") for c in chained)
    stored = eml_files(tmp_path)
    assert len(stored) == 5
    for message in messages:  # each stored once, whole
        body = message.raw.split(b"\r\n\r\n", 1)[1]
        assert sum(body in content for content in stored) == 1


@dataclass
class Script:
    """A server that answers the n-th payload it reads (from 1, across connections) with `payload_reply(n)`:
    a reply line, or None to drop the connection without answering."""

    payload_reply: Callable[[int], bytes | None]
    payloads: list[bytes] = field(default_factory=list)
    connections: int = 0
    commands_in_payloads: list[bytes] = field(default_factory=list)


async def scripted(script: Script) -> tuple[asyncio.AbstractServer, Address]:
    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script.connections += 1
        writer.write(b"220 scripted\r\n")
        try:
            while line := await reader.readline():
                if line.startswith(b"EHLO"):
                    writer.write(b"250-scripted\r\n250-PIPELINING\r\n250 SIZE 100000\r\n")
                elif line.startswith(b"DATA"):
                    writer.write(b"354 go on\r\n")
                    await writer.drain()
                    payload = await reader.readuntil(b"\r\n.\r\n")
                    script.payloads.append(payload)
                    if payload.startswith((b"QUIT", b"RSET", b"MAIL")):
                        script.commands_in_payloads.append(payload)
                    reply = script.payload_reply(len(script.payloads))
                    if reply is None:
                        writer.close()
                        return
                    writer.write(reply + b"\r\n")
                    if reply.startswith(b"421"):
                        await writer.drain()
                        writer.close()
                        return
                elif line.startswith(b"QUIT"):
                    writer.write(b"221 bye\r\n")
                    await writer.drain()
                    writer.close()
                    return
                else:
                    writer.write(b"250 ok\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    return server, Address("127.0.0.1", server.sockets[0].getsockname()[1])


def send_scripted(script: Script, count: int, **settings: object) -> list[DeliveryResult]:
    async def main() -> list[DeliveryResult]:
        server, address = await scripted(script)
        async with server:
            options = {"connections": 1, **settings}
            return await deliver(make_messages(count), settings_for(address, **options))  # type: ignore[arg-type]

    return run(main())


def received_keys(script: Script) -> list[str]:
    """The keys of the messages in the payloads the server read, in order (the Message-ID carries the key)."""
    ids = {message_id_for(f"k{i}", "thidua.test").encode(): f"k{i}" for i in range(10)}
    return [key for payload in script.payloads for mid, key in ids.items() if mid in payload]


def test_a_refused_payload_is_retried_and_the_next_message_goes_once() -> None:
    """451 to the first payload while the second envelope waits on the wire: the first is sent again on a new
    connection, the second goes exactly once."""
    script = Script(lambda n: b"451 4.3.0 try again" if n == 1 else b"250 queued")
    results = send_scripted(script, 3)
    assert [(r.key, r.status) for r in results] == [("k0", "sent"), ("k1", "sent"), ("k2", "sent")]
    assert results[0].attempts == 2 and results[1].attempts == 1
    assert received_keys(script) == ["k0", "k0", "k1", "k2"]  # k0 refused, then taken; k1 and k2 once
    assert script.commands_in_payloads == []
    assert script.connections == 2


def test_a_permanently_refused_payload_fails_alone() -> None:
    script = Script(lambda n: b"554 5.7.0 rejected" if n == 1 else b"250 queued")
    results = send_scripted(script, 3)
    assert [(r.status, r.code) for r in results] == [("failed", 554), ("sent", 250), ("sent", 250)]
    assert len(script.payloads) == 3 and script.commands_in_payloads == []


def test_421_after_a_payload_with_the_next_envelope_sent() -> None:
    script = Script(lambda n: b"421 4.3.2 shutting down" if n == 2 else b"250 queued")
    results = send_scripted(script, 4)
    assert [r.status for r in results] == ["sent"] * 4
    assert [r.attempts for r in results] == [1, 2, 1, 1]
    assert received_keys(script) == ["k0", "k1", "k1", "k2", "k3"] and script.commands_in_payloads == []


def test_connection_lost_after_a_payload_leaves_only_that_message_unknown() -> None:
    """The next envelope was on the wire, its payload was not: the next message is not "unknown", it is sent
    on a new connection."""
    script = Script(lambda n: None if n == 1 else b"250 queued")
    results = send_scripted(script, 3)
    assert [(r.key, r.status) for r in results] == [("k0", "unknown"), ("k1", "sent"), ("k2", "sent")]
    assert [r.attempts for r in results] == [1, 1, 1]
    assert len(script.payloads) == 3 and script.connections == 2


def test_a_connection_that_gives_up_hands_back_the_message_it_held() -> None:
    """One connection, one attempt: the first payload is refused with 421, the connection gives up while the
    second message's envelope was already sent. The second message is not lost: it is reported as not attempted
    (to retry later), as the third is; nothing was read as message text."""
    script = Script(lambda n: b"421 4.3.2 shutting down")
    results = send_scripted(script, 3, max_attempts=1)
    assert [r.key for r in results] == ["k0", "k1", "k2"]
    assert [(r.status, r.attempts) for r in results] == [("retry", 1), ("retry", 0), ("retry", 0)]
    assert len(script.payloads) == 1 and script.commands_in_payloads == []


def test_a_message_handed_back_goes_on_another_connection() -> None:
    """Two connections: the one that gives up hands its held message to the other, which sends it."""
    refused_once: list[int] = []

    def reply(n: int) -> bytes:
        if not refused_once:
            refused_once.append(n)
            return b"421 4.3.2 shutting down"
        return b"250 queued"

    script = Script(reply)
    results = send_scripted(script, 4, max_attempts=1, connections=2)
    assert sorted(r.key for r in results) == ["k0", "k1", "k2", "k3"]
    retried = [r.key for r in results if r.status == "retry"]
    sent = [r.key for r in results if r.status == "sent"]
    assert len(retried) == 1 and len(sent) == 3
    # What the server took (every payload but the refused one) is exactly what is reported sent, once each.
    taken = received_keys(script)
    taken.remove(retried[0])
    assert sorted(taken) == sorted(sent)
    assert script.commands_in_payloads == []


def test_a_next_message_whose_address_cannot_go_in_a_command_fails_alone(tmp_path: Path) -> None:
    """The next envelope is built while the previous payload goes out: an address that cannot be sent (a space
    in the mailbox) is not sent ahead; that message fails on its own turn, the others go."""
    messages = make_messages(3)
    unsendable = OutgoingMessage(messages[1].key, messages[1].sender, ["don vi@donvi.test"], messages[1].raw)
    messages[1] = unsendable

    async def send(address: Address, server: object) -> list[DeliveryResult]:
        return await deliver(messages, settings_for(address, connections=1))  # type: ignore[arg-type]

    results = run(with_lean_server(tmp_path, send))
    assert [r.status for r in results] == ["sent", "failed", "sent"]
    assert "not permitted" in (results[1].error or "")
    assert len(eml_files(tmp_path)) == 2
