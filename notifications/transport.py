"""Async SMTP delivery of prebuilt messages (aiosmtplib).

This module knows nothing about the database or the working calendar: it
takes messages that are already built (``raw`` bytes, see
``notifications.message.build_message``), sends them over a few reused SMTP
connections, and reports one :class:`DeliveryResult` per message.

Exceptions
----------
All errors are classified into this hierarchy (see :func:`classify`)::

    TransportError
    ├── RetryableError        connection refused/reset, timeouts, connection lost
    │                         before the message was handed over, 4xx replies
    │                         (421, 450, 451, 452, 454...)
    ├── PermanentError        5xx replies (550, 552, 553, 554, 535 authentication
    │   │                     failed...), rejected TLS certificate, a required
    │   │                     extension (STARTTLS, AUTH) missing, malformed address
    │   └── DeliveryAborted   raised by deliver() when no SMTP session can be
    │                         set up for a reason retrying will not fix
    └── OutcomeUnknownError   connection lost (or reply timed out) after the
                              DATA payload was sent: the server may or may not
                              have accepted the message

Outcome policy
--------------
``sent``     the server accepted the message for every recipient.
``partial``  accepted, but some recipients were refused at RCPT; each refusal
             is in ``DeliveryResult.refused`` (4xx ones may be retried later
             for those recipients only).
``failed``   permanent refusal (5xx) of the message: do not resend as is.
``retry``    still pending after ``max_attempts`` retryable failures, or never
             attempted because the server was unreachable: try again later.
``unknown``  the payload reached the wire but the final reply never came.
             The server may have queued the message, so the caller must NOT
             resend it automatically; a person decides (the Message-ID from
             ``message_id_for`` lets the receiving side spot a duplicate).
             Any failure after the first payload byte is handed to the socket
             counts as unknown: erring this way never duplicates mail.

Round trips
-----------
With PIPELINING, a message's payload goes out in one write with the next
message's MAIL, RCPT and DATA (RFC 2920 3.1): one round trip per message
instead of two. The next message was not handed over until its own payload
goes: if the payload before it is refused or its connection drops, it is sent
on a new connection (or handed to another one), never reported unknown.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPRecipientRefused,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPReadTimeoutError,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import COMMAND_INJECTION_REGEX, SMTPProtocol

from thidua.errors import UnavailableError

__all__ = [
    "DeliveryAborted",
    "DeliveryResult",
    "OutcomeUnknownError",
    "OutgoingMessage",
    "PermanentError",
    "RetryableError",
    "SmtpSettings",
    "TransportError",
    "DeliveryStream",
    "classify",
    "deliver",
]

log = logging.getLogger(__name__)

Status = Literal["sent", "partial", "retry", "failed", "unknown"]


class TransportError(UnavailableError):
    """Base class of every delivery error; ``code`` is the SMTP reply code if any. ``retryable`` (from
    thidua.errors) is true only for :class:`RetryableError`."""

    retryable = False

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class RetryableError(TransportError):
    """Transient: the same message may be sent again later (4xx replies,
    refused/reset connections, timeouts, connection lost before the payload
    was sent)."""

    retryable = True


class PermanentError(TransportError):
    """Sending the same thing again will fail the same way (5xx replies,
    authentication failure, invalid TLS certificate, malformed address)."""


class DeliveryAborted(PermanentError):
    """Raised by :func:`deliver` when an SMTP session cannot be set up for a
    permanent reason (bad credentials, bad certificate, server refuses us).

    ``results`` holds the results of the messages completed before the stop
    (they were also passed to ``on_result``); the other messages were not sent.
    """

    def __init__(self, message: str, code: int | None, results: list[DeliveryResult]) -> None:
        super().__init__(message, code)
        self.results = results


class OutcomeUnknownError(TransportError):
    """The connection broke after the DATA payload was sent and before the
    server's final reply: the message may or may not have been accepted."""


def classify(exc: BaseException) -> type[TransportError]:
    """Map an exception from aiosmtplib, asyncio or the OS to
    :class:`RetryableError`, :class:`PermanentError` or
    :class:`OutcomeUnknownError` (the latter only for our own error)."""
    if isinstance(exc, TransportError):
        for kind in (OutcomeUnknownError, RetryableError, PermanentError):
            if isinstance(exc, kind):
                return kind
        return PermanentError
    code = _reply_code(exc)
    if code is not None:
        return RetryableError if 400 <= code < 500 else PermanentError
    # aiosmtplib wraps connect errors; the TLS cause decides.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return RetryableError
        if isinstance(cause, ssl.SSLError):  # bad certificate, TLS on a plain port...
            return PermanentError
        cause = cause.__cause__
    if isinstance(exc, (SMTPServerDisconnected, SMTPTimeoutError, OSError, TimeoutError)):
        return RetryableError  # includes SMTPConnectError, ConnectionError
    return PermanentError  # SMTPNotSupported, no usable AUTH method, bad address


def _reply_code(exc: BaseException) -> int | None:
    if isinstance(exc, SMTPRecipientsRefused):
        # Retryable as long as one recipient was refused only temporarily.
        codes = [r.code for r in exc.recipients]
        temporary = [c for c in codes if c < 500]
        chosen = temporary or codes
        return chosen[0] if chosen else None
    if isinstance(exc, SMTPResponseException) and exc.code >= 400:
        return exc.code
    return None


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """How to reach the SMTP server and how hard to try.

    ``port`` defaults by ``security``: 25 (none), 587 (starttls), 465 (tls).
    ``batch_size`` is the number of messages sent over one SMTP session before
    it is closed with QUIT and reopened (providers often cap messages per
    session). Backoff before attempt n+1 is
    ``min(backoff_max_s, backoff_base_s * 2**(n-1))``, jittered down by up to
    half so parallel connections do not retry in lockstep.
    ``ca_file`` trusts an extra CA (or a self-signed server certificate).
    """

    host: str
    sender: str
    port: int | None = None
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender_name: str = ""
    timeout_s: float = 30.0
    connections: int = 4
    batch_size: int = 100
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    validate_certs: bool = True
    ca_file: str | None = None
    local_hostname: str | None = None

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, not {self.security!r}")
        for name in ("connections", "batch_size", "max_attempts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.timeout_s <= 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("timeout_s must be positive and backoff values not negative")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")

    @property
    def from_header(self) -> str:
        """``Sender Name <sender>`` for ``build_message(sender=...)``."""
        if not self.sender_name:
            return self.sender
        name = self.sender_name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{name}" <{self.sender}>'

    def backoff_s(self, attempt: int) -> float:
        """Delay after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return float(delay * random.uniform(0.5, 1.0))


@dataclass(frozen=True)
class OutgoingMessage:
    """One prebuilt message; ``key`` is the caller's ledger key. ``wire_ready``: ``raw`` is lines ending in CRLF,
    none starting with "." (what ``build_message`` writes), so it goes on the wire as it is, without the scan
    that normalises line endings and doubles leading dots."""

    key: str
    sender: str
    recipients: list[str]
    raw: bytes
    wire_ready: bool = False


@dataclass
class DeliveryResult:
    """Outcome of one message; see the module docstring for ``status``.

    ``refused`` maps each refused recipient to (code, server text). ``code``
    and ``server_reply`` come from the last SMTP reply that decided the
    outcome; ``error`` explains any status other than "sent".
    """

    key: str
    status: Status
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    server_reply: str | None = None
    code: int | None = None


ResultCallback = Callable[[DeliveryResult], Awaitable[None] | None]


async def deliver(
    messages: Sequence[OutgoingMessage],
    settings: SmtpSettings,
    *,
    on_result: ResultCallback | None = None,
) -> list[DeliveryResult]:
    """Send ``messages`` and return one result per message, in input order.

    Up to ``settings.connections`` SMTP sessions run in parallel, each taking
    the next unsent message from a shared queue and reusing its connection
    (reconnecting when the server drops it or after ``batch_size`` messages).
    Retryable failures are retried with backoff up to ``max_attempts``. A
    connection retires when a message ends as "retry" and the connection is
    down, or after 3 such messages in a row; once all have retired, the
    messages never attempted come back as "retry" with ``attempts == 0``.

    ``on_result`` is called (and awaited, if it returns an awaitable) as each
    message completes, before that connection takes its next message, so a
    ledger can be written promptly. Calls from different connections may
    overlap while one is awaiting. If it raises, all connections stop after
    their current message and the exception propagates.

    Raises :class:`DeliveryAborted` when a session cannot be set up for a
    permanent reason (e.g. 535 authentication failed).
    """
    if not messages:
        return []
    stream = DeliveryStream(settings, on_result=on_result, connections=min(settings.connections, len(messages)))
    stream.add(messages)
    await stream.start()
    return await stream.close()


class DeliveryStream:
    """:func:`deliver` for a queue that keeps growing while it is sent.

    The connections are opened once and live until :meth:`close`; a caller
    preparing the next messages while the current ones are on the wire calls
    :meth:`add` as they become ready. ``may_take(index)`` (index in the order
    of ``add``) gates the transport: a message is only taken once it returns
    True; call :meth:`wake` when the answer may have changed. Results,
    retries, ``on_result`` and :class:`DeliveryAborted` behave as in
    :func:`deliver`. Once every connection has given up (:attr:`exhausted`),
    nothing more is sent: :meth:`close` reports the rest as "retry" with
    ``attempts == 0``.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        on_result: ResultCallback | None = None,
        may_take: Callable[[int], bool] | None = None,
        connections: int | None = None,
    ) -> None:
        self.settings = settings
        self.run = _Run([], on_result, closed=False, may_take=may_take)
        self.connections = connections or settings.connections
        self.tasks: list[asyncio.Task[None]] = []
        self.local_hostname: str | None = None  # known once started

    async def start(self) -> None:
        """Ready to send. A connection is only set up for a message to send: as many as there are messages, up
        to ``connections`` (a stream that gets nothing opens none)."""
        self.local_hostname = self.settings.local_hostname or await _local_fqdn()
        self._spawn()

    def _spawn(self) -> None:
        """One worker per message added, up to ``connections``: an idle connection would only wait in the queue."""
        if self.local_hostname is None:
            return
        wanted = min(self.connections, len(self.run.messages))
        self.tasks.extend(
            asyncio.ensure_future(_Worker(self.run, self.settings, self.local_hostname).run())
            for _ in range(wanted - len(self.tasks))
        )

    def add(self, messages: Sequence[OutgoingMessage]) -> None:
        self.run.add(messages)
        self._spawn()

    def wake(self) -> None:
        self.run.changed.set()

    def fail(self, exc: BaseException) -> None:
        """Stop every connection after its current message; :meth:`close` raises ``exc``."""
        self.run.fail(exc)

    @property
    def added(self) -> int:
        return len(self.run.messages)

    @property
    def taken(self) -> int:
        return self.run.next_index

    @property
    def exhausted(self) -> bool:
        """Every connection gave up (or the run failed): nothing more will be sent. (A connection not set up
        yet has not given up: the next messages would get it.)"""
        return self.run.failure is not None or (
            len(self.tasks) == self.connections and all(t.done() for t in self.tasks)
        )

    async def close(self) -> list[DeliveryResult]:
        """No more messages: wait for the connections to finish, then return every result in order."""
        run = self.run
        run.close()
        await asyncio.gather(*self.tasks)
        if run.failure is None:
            for index in sorted(run.returned) + list(range(run.next_index, len(run.messages))):
                not_attempted = DeliveryResult(
                    key=run.messages[index].key,
                    status="retry",
                    error=f"not attempted: every connection gave up ({run.last_error})",
                )
                if not await run.complete(index, not_attempted):
                    break
            run.next_index = len(run.messages)
            run.returned.clear()
        completed = [r for r in run.results if r is not None]
        if run.failure is not None:
            if isinstance(run.failure, DeliveryAborted):
                run.failure.results = completed
            raise run.failure
        return completed


_FQDN_TTL_S = 300.0
_fqdn: tuple[float, str] | None = None  # (monotonic time it was looked up, name)


async def _local_fqdn() -> str:
    """This machine's name for EHLO (``socket.getfqdn``, which may ask the resolver: looked up off the loop,
    and kept a few minutes rather than asked again at every stream)."""
    global _fqdn
    if _fqdn is None or time.monotonic() - _fqdn[0] > _FQDN_TTL_S:
        _fqdn = (time.monotonic(), await asyncio.to_thread(socket.getfqdn))
    return _fqdn[1]


class _Run:
    """State shared by the connections of one deliver() call or stream."""

    def __init__(
        self,
        messages: Sequence[OutgoingMessage],
        on_result: ResultCallback | None,
        *,
        closed: bool = True,
        may_take: Callable[[int], bool] | None = None,
    ) -> None:
        self.messages = list(messages)
        self.results: list[DeliveryResult | None] = [None] * len(self.messages)
        self.next_index = 0
        self.on_result = on_result
        self.failure: BaseException | None = None
        self.last_error = ""
        self.closed = closed
        self.may_take = may_take
        self.changed = asyncio.Event()
        self.returned: list[int] = []  # taken, then given back unsent (their connection stopped)

    def add(self, messages: Sequence[OutgoingMessage]) -> None:
        self.messages.extend(messages)
        self.results.extend([None] * len(messages))
        self.changed.set()

    def close(self) -> None:
        self.closed = True
        self.changed.set()

    def fail(self, exc: BaseException) -> None:
        self.failure = self.failure or exc
        self.changed.set()

    async def take(self) -> tuple[int, OutgoingMessage] | None:
        """The next message to send; waits while the queue is open and empty (or gated)."""
        while True:
            item = self.take_nowait()
            if item is not None or self.failure is not None:
                return item
            if self.closed and self.next_index >= len(self.messages) and not self.returned:
                return None
            self.changed.clear()
            await self.changed.wait()

    def take_nowait(self) -> tuple[int, OutgoingMessage] | None:
        """The next message if one may be sent now (messages given back first), else None."""
        if self.failure is not None:
            return None
        if self.returned:
            index = min(self.returned)
            self.returned.remove(index)
            return index, self.messages[index]
        index = self.next_index
        if index < len(self.messages) and (self.may_take is None or self.may_take(index)):
            self.next_index += 1
            return index, self.messages[index]
        return None

    def give_back(self, index: int) -> None:
        """A message taken but not sent (its connection stopped first): the next connection to take gets it."""
        self.returned.append(index)
        self.changed.set()

    async def complete(self, index: int, result: DeliveryResult) -> bool:
        """Record a result; False if on_result failed (the run then stops)."""
        self.results[index] = result
        if self.on_result is None:
            return True
        try:
            pending = self.on_result(result)
            if inspect.isawaitable(pending):
                await pending
        except Exception as exc:
            self.fail(exc)
            return False
        return True


# A connection stops after this many messages in a row ended as "retry" (one
# is enough when it also lost its connection): a server deferring everything
# would otherwise cost max_attempts backoffs per message.
_GIVE_UP_AFTER_RETRIES = 3


class _SessionRefused(Exception):
    """Internal: session setup failed permanently; carries the cause."""


class _Worker:
    """One SMTP connection working through the shared queue."""

    def __init__(self, run: _Run, settings: SmtpSettings, local_hostname: str) -> None:
        self.shared = run
        self.settings = settings
        self.sent_in_session = 0
        self.smtp = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            local_hostname=local_hostname,
            timeout=settings.timeout_s,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            validate_certs=settings.validate_certs,
            cert_bundle=settings.ca_file,
        )
        # The next message, taken while the current one's payload went out, and whether its envelope went out
        # with that payload (on which connection): RFC 2920 lets a client follow the end of a message with the
        # next MAIL, RCPT and DATA in one write, one round trip per message instead of two.
        self.held: tuple[int, OutgoingMessage] | None = None
        self.held_payload: bytes | None = None  # the held message's DATA payload, when its envelope went out
        self.presented: tuple[OutgoingMessage, SMTPProtocol] | None = None

    async def run(self) -> None:
        try:
            await self._work()
        except Exception as exc:  # a bug, not an SMTP outcome: stop the whole run
            log.exception("SMTP connection crashed")
            self.shared.fail(exc)
        finally:
            if self.held is not None:  # taken, never sent: another connection (or close()) deals with it
                self.shared.give_back(self.held[0])
                self.held = None
            await self._close()

    async def _work(self) -> None:
        retries_in_a_row = 0
        while True:
            item, self.held = self.held or await self.shared.take(), None
            if item is None:
                return
            index, message = item
            try:
                result = await self._deliver_one(message)
            except _SessionRefused as refused:
                if self.shared.failure is None:
                    cause = refused.__cause__
                    text = f"cannot set up an SMTP session with {self.settings.host}: {_describe(cause)}"
                    log.error(text)
                    self.shared.fail(DeliveryAborted(text, getattr(cause, "code", None), []))
                return
            if result is None:  # another connection failed the run
                return
            if not await self.shared.complete(index, result):
                return
            retries_in_a_row = retries_in_a_row + 1 if result.status == "retry" else 0
            if retries_in_a_row and (not self.smtp.is_connected or retries_in_a_row >= _GIVE_UP_AFTER_RETRIES):
                # The server is unreachable, keeps dropping us or defers
                # everything: leave the queue to connections that still work.
                log.warning("SMTP connection gives up after: %s", result.error)
                self.shared.last_error = result.error or ""
                self.shared.changed.set()  # a stream's owner watches for every connection giving up
                return

    async def _deliver_one(self, message: OutgoingMessage) -> DeliveryResult | None:
        payload = self.held_payload if self.presented is not None and self.presented[0] is message else None
        payload = payload or _payload_of(message)
        self.held_payload = None
        attempts = 0
        while True:
            if self.shared.failure is not None:
                return None
            attempts += 1
            try:
                await self._ensure_session()
                reply, refused = await self._transaction(message, payload)
            except OutcomeUnknownError as exc:
                log.warning("outcome unknown for %s: %s", message.key, exc)
                return DeliveryResult(key=message.key, status="unknown", error=str(exc), attempts=attempts)
            except (SMTPException, OSError, TimeoutError, ValueError) as exc:
                permanent = classify(exc) is PermanentError
                if permanent or attempts >= self.settings.max_attempts:
                    return DeliveryResult(
                        key=message.key,
                        status="failed" if permanent else "retry",
                        refused=_refusals(exc),
                        error=_describe(exc),
                        attempts=attempts,
                        server_reply=_reply_text(exc),
                        code=_reply_code(exc),
                    )
                log.info("attempt %d for %s failed, will retry: %s", attempts, message.key, _describe(exc))
                await asyncio.sleep(self.settings.backoff_s(attempts))
            else:
                return DeliveryResult(
                    key=message.key,
                    status="partial" if refused else "sent",
                    refused=refused,
                    error=f"{len(refused)} recipient(s) refused" if refused else None,
                    attempts=attempts,
                    server_reply=f"{reply.code} {reply.message}",
                    code=reply.code,
                )

    async def _ensure_session(self) -> None:
        if self.smtp.is_connected and self.sent_in_session < self.settings.batch_size:
            return
        await self._close()
        try:
            await self.smtp.connect()
        except (SMTPException, OSError, TimeoutError) as exc:
            if classify(exc) is PermanentError:
                raise _SessionRefused() from exc
            raise
        self.sent_in_session = 0

    async def _transaction(
        self, message: OutgoingMessage, payload: bytes
    ) -> tuple[aiosmtplib.SMTPResponse, dict[str, tuple[int, str]]]:
        """MAIL, RCPT..., DATA, payload. Raises aiosmtplib errors for
        failures up to the DATA command and OutcomeUnknownError after it."""
        smtp = self.smtp
        presented, self.presented = self.presented, None
        already_sent = presented is not None and presented[0] is message and presented[1] is smtp.protocol
        self.sent_in_session += 1
        try:
            await smtp._ehlo_or_helo_if_needed()  # what smtp.mail() does first; the extensions are known after it
            if smtp.supports_extension("pipelining"):
                refused = await self._pipelined_envelope(message, payload, already_sent=already_sent)
            else:
                options = [f"SIZE={len(payload)}"] if smtp.supports_extension("size") else []
                refused = await self._envelope(message, options)
        except (SMTPResponseException, SMTPRecipientsRefused):
            await self._reset()
            raise
        if smtp.protocol is None:  # dropped right after 354: nothing sent yet
            raise SMTPServerDisconnected("Connection lost before the message was sent")
        protocol = smtp.protocol
        protocol.write(payload + self._next_envelope(protocol))
        # From here the server may commit the message at any moment.
        try:
            reply = await self._read_reply(protocol)
        except (SMTPServerDisconnected, SMTPTimeoutError, OSError) as exc:
            smtp.close()
            raise OutcomeUnknownError(
                f"connection lost after the message was sent, before the final reply: {_describe(exc)}"
            ) from exc
        if reply.code != 250 and smtp.is_connected and self.presented is not None:
            # The next envelope's replies are still to come: a new connection is simpler than catching up.
            smtp.close()
        if reply.code == 421:
            smtp.close()  # the server is closing the channel
        if reply.code != 250:
            raise aiosmtplib.SMTPDataError(reply.code, reply.message)
        return reply, refused

    def _next_envelope(self, protocol: SMTPProtocol) -> bytes:
        """The envelope of the next message, to go out right behind this payload (PIPELINING), if a message
        may be taken now and would go on this session; b"" otherwise."""
        smtp = self.smtp
        if (
            self.held is not None
            or self.sent_in_session >= self.settings.batch_size  # the next message opens a new session
            or not smtp.supports_extension("pipelining")
        ):
            return b""
        self.held = self.shared.take_nowait()
        if self.held is None:
            return b""
        message = self.held[1]
        payload = _payload_of(message)
        try:
            commands = self._envelope_commands(message, payload)
        except ValueError:
            return b""  # an address that cannot go in a command: the message fails on its own turn
        self.presented, self.held_payload = (message, protocol), payload
        return b"\r\n".join(commands) + b"\r\n"

    def _envelope_commands(self, message: OutgoingMessage, payload: bytes) -> list[bytes]:
        options = f" SIZE={len(payload)}".encode("ascii") if self.smtp.supports_extension("size") else b""
        commands = [b"MAIL FROM:" + _quoted(message.sender) + options]
        commands.extend(b"RCPT TO:" + _quoted(recipient) for recipient in message.recipients)
        commands.append(b"DATA")
        return commands

    async def _envelope(self, message: OutgoingMessage, options: list[str]) -> dict[str, tuple[int, str]]:
        """MAIL, each RCPT, DATA, one round trip each; returns the refused recipients once DATA got 354."""
        smtp = self.smtp
        await smtp.mail(message.sender, options=options)
        refused: dict[str, tuple[int, str]] = {}
        errors: list[SMTPRecipientRefused] = []
        for recipient in message.recipients:
            try:
                await smtp.rcpt(recipient)
            except SMTPRecipientRefused as exc:
                refused[recipient] = (exc.code, exc.message)
                errors.append(exc)
        if len(errors) == len(message.recipients):
            raise SMTPRecipientsRefused(errors)
        start = await smtp.execute_command(b"DATA")
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        return refused

    async def _pipelined_envelope(
        self, message: OutgoingMessage, payload: bytes, *, already_sent: bool = False
    ) -> dict[str, tuple[int, str]]:
        """:meth:`_envelope` with PIPELINING (RFC 2920): MAIL, every RCPT and DATA in one write (or, when
        `already_sent`, behind the previous payload), then their replies in order. Same outcomes and exceptions
        as one command at a time: a reply that would have stopped the sequence there (a 421, or the connection
        lost) stops the interpretation at the same place."""
        smtp = self.smtp
        protocol = smtp.protocol
        if protocol is None:
            raise SMTPServerDisconnected("Server not connected")
        if not already_sent:
            protocol.write(b"\r\n".join(self._envelope_commands(message, payload)) + b"\r\n")
        commands = len(message.recipients) + 2  # MAIL, each RCPT, DATA
        replies: list[aiosmtplib.SMTPResponse] = []
        lost: SMTPServerDisconnected | None = None
        try:
            while len(replies) < commands:
                reply = await self._read_reply(protocol)
                replies.append(reply)
                if reply.code == 421:  # the server closes the channel: nothing more will come
                    smtp.close()
                    lost = SMTPServerDisconnected("Server not connected")
                    break
        except (SMTPServerDisconnected, SMTPTimeoutError):
            smtp.close()
            raise

        def reply_to(index: int) -> aiosmtplib.SMTPResponse:
            if index >= len(replies):
                assert lost is not None
                raise lost
            return replies[index]

        data_index = commands - 1
        mail = reply_to(0)
        if mail.code != 250:
            await self._abandon_data(replies, data_index)
            raise aiosmtplib.SMTPSenderRefused(mail.code, mail.message, message.sender)
        refused: dict[str, tuple[int, str]] = {}
        errors: list[SMTPRecipientRefused] = []
        for index, recipient in enumerate(message.recipients, 1):
            reply = reply_to(index)
            if reply.code not in (250, 251):
                refused[recipient] = (reply.code, reply.message)
                errors.append(SMTPRecipientRefused(reply.code, reply.message, recipient))
        if len(errors) == len(message.recipients):
            await self._abandon_data(replies, data_index)
            raise SMTPRecipientsRefused(errors)
        start = reply_to(data_index)
        if start.code != 354:
            raise aiosmtplib.SMTPDataError(start.code, start.message)
        return refused

    async def _abandon_data(self, replies: list[aiosmtplib.SMTPResponse], data_index: int) -> None:
        """The envelope failed but the server may have answered the pipelined DATA with 354 anyway: RFC 2920
        says to send an empty payload (a lone ".") then; the caller's RSET follows."""
        protocol = self.smtp.protocol
        if len(replies) <= data_index or replies[data_index].code != 354 or protocol is None:
            return
        try:
            protocol.write(b".\r\n")
            await self._read_reply(protocol)
        except (SMTPServerDisconnected, SMTPTimeoutError):
            self.smtp.close()

    async def _read_reply(self, protocol: SMTPProtocol) -> aiosmtplib.SMTPResponse:
        """The next reply of a pipelined group. aiosmtplib's protocol parses one reply per read from the
        socket and keeps the rest of what arrived in its buffer, so look there first. The wait has no
        ``wait_for`` (3.11's adds a hop between the reply and this task, during which the protocol would drop
        the next reply's bytes); ``asyncio.timeout`` bounds it instead."""
        buffered = protocol._read_response_from_buffer()
        if buffered is not None:
            return buffered
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await protocol.read_response(timeout=None)
        except TimeoutError as exc:
            raise SMTPReadTimeoutError("Timed out waiting for server response") from exc

    async def _reset(self) -> None:
        """RSET after a refused envelope so the next message starts clean."""
        if not self.smtp.is_connected:
            return
        try:
            await self.smtp.rset()
        except (SMTPException, OSError):
            self.smtp.close()

    async def _close(self) -> None:
        if not self.smtp.is_connected:
            return
        if self.presented is not None:  # an envelope waits for its payload: QUIT would be read as message text
            self.presented = None
            self.smtp.close()
            return
        try:
            await self.smtp.quit(timeout=min(self.settings.timeout_s, 5.0))
        except (SMTPException, OSError, TimeoutError):
            self.smtp.close()


# The DATA payload as it goes on the wire (RFC 5321 4.5.2): CRLF line endings,
# leading dots doubled, terminated by "." on its own line.
_LINE_ENDINGS = re.compile(rb"\r\n|\n|\r")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def _payload_of(message: OutgoingMessage) -> bytes:
    return message.raw + b".\r\n" if message.wire_ready else _data_payload(message.raw)


def _data_payload(raw: bytes) -> bytes:
    crlf = raw.count(b"\r\n")
    if raw.count(b"\n") != crlf or raw.count(b"\r") != crlf:
        raw = _LINE_ENDINGS.sub(b"\r\n", raw)
    if not raw.endswith(b"\r\n"):
        raw += b"\r\n"
    if b"\n." in raw or raw.startswith(b"."):
        raw = _LEADING_DOT.sub(b"..", raw)
    return raw + b".\r\n"


# A dot-atom address (RFC 5322 3.4.1), which aiosmtplib's quote_address (email.utils.parseaddr) leaves as it is.
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_ADDRESS = re.compile(rf"{_DOT_ATOM}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


@functools.lru_cache(maxsize=65536)  # the sender and each unit's address recur on every mail: parsed once
def _quoted(address: str) -> bytes:
    """``<address>`` for a MAIL/RCPT command, as aiosmtplib's mail()/rcpt() build it (ValueError if unsafe)."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return b"<" + address.encode("ascii") + b">"
    quoted = quote_address(address).encode("ascii")
    if COMMAND_INJECTION_REGEX.search(quoted):
        raise ValueError("Command arg contains a prohibited control character")
    return quoted


def _refusals(exc: BaseException) -> dict[str, tuple[int, str]]:
    if isinstance(exc, SMTPRecipientsRefused):
        return {r.recipient: (r.code, r.message) for r in exc.recipients}
    return {}


def _reply_text(exc: BaseException) -> str | None:
    if isinstance(exc, SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return None


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, SMTPRecipientsRefused):
        return "all recipients refused: " + "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
    text = _reply_text(exc) or str(exc) or type(exc).__name__
    cause = exc.__cause__
    return f"{text} ({_describe(cause)})" if cause is not None and str(cause) not in text else text
