"""Local SMTP servers (aiosmtpd) for the demo, benchmarks and tests.

* :class:`EmlDirectoryHandler` stores every received message as a ``.eml``
  file: the demo's "local SMTP sink", so real delivered mail can be opened
  without a mail server installed.
* :class:`CountingHandler` only counts (and optionally remembers Message-IDs
  for duplicate checks); used by the benchmark.
* :class:`FaultInjectingHandler` scripts server misbehaviour for tests.

:func:`start_sink` runs any of them on 127.0.0.1, optionally with STARTTLS or
implicit TLS and AUTH PLAIN/LOGIN. Operators can run an .eml sink with
``python -m thidua.notifications.sink --dir DIR --port N`` (the lean asyncio
server of :mod:`thidua.notifications.lean_smtp`, storing what
``EmlDirectoryHandler`` would; ``--server aiosmtpd`` runs aiosmtpd instead),
and :class:`SinkProcess` runs that command as a child process.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hmac
import ipaddress
import os
import signal
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from thidua.notifications.lean_smtp import EmlStore, message_id_of

__all__ = [
    "CountingHandler",
    "EmlDirectoryHandler",
    "EmlStore",
    "FaultInjectingHandler",
    "Received",
    "RunningSink",
    "SinkProcess",
    "free_port",
    "make_self_signed_cert",
    "message_id_of",
    "server_tls_context",
    "start_sink",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port (aiosmtpd's Controller cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmlDirectoryHandler:
    """Writes each message to ``directory`` as ``<UTC time>-<seq>-<id hash>.eml`` (see :class:`EmlStore`, which
    the lean sink of ``python -m thidua.notifications.sink`` uses too).

    Files appear atomically (written as ``.tmp``, then renamed), so a reader
    listing ``*.eml`` never sees half a message. ``Return-Path`` and
    ``X-Envelope-To`` are prepended, as a mailbox would, so the envelope
    (including Bcc recipients) stays visible.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.store = EmlStore(directory)
        self.directory = self.store.directory
        self.stored: list[Path] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = self.store.store(envelope.mail_from or "", envelope.rcpt_tos, envelope.original_content or b"")
        self.stored.append(self.directory / name)
        return f"250 OK stored as {name}"


class CountingHandler:
    """Counts messages, recipients and bytes without storing bodies.

    With ``keep_message_ids`` every Message-ID is counted too, so a benchmark
    or test can check that each message arrived exactly once.
    """

    def __init__(self, *, keep_message_ids: bool = False) -> None:
        self.messages = 0
        self.recipients = 0
        self.bytes = 0
        self.message_ids: Counter[str] | None = Counter() if keep_message_ids else None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages += 1
        self.recipients += len(envelope.rcpt_tos)
        self.bytes += len(content)
        if self.message_ids is not None:
            self.message_ids[message_id_of(content) or ""] += 1
        return "250 OK"

    def duplicates(self) -> dict[str, int]:
        """Message-IDs received more than once (needs ``keep_message_ids``)."""
        if self.message_ids is None:
            raise RuntimeError("CountingHandler(keep_message_ids=True) is needed for duplicates()")
        return {mid: n for mid, n in self.message_ids.items() if n > 1}


@dataclass(frozen=True)
class Received:
    """A message a FaultInjectingHandler accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message_id: str | None
    content: bytes


class FaultInjectingHandler:
    """An SMTP server that misbehaves on cue.

    Transactions are numbered from 1 in the order MAIL FROM arrives.

    * ``fail_first`` / ``fail_code`` / ``fail_at``: the first N transactions get
      ``fail_code`` at MAIL or at the end of DATA (after the payload). A 421
      also closes the connection, as RFC 5321 says it does. Use a huge N (e.g.
      ``sys.maxsize``) to fail every message.
    * ``refuse_recipients``: recipient -> code returned at RCPT (e.g. 550 or
      450); the others are accepted, which makes a partial delivery.
    * ``drop_first`` / ``drop_at``: the first N transactions lose the
      connection at MAIL (before the payload: safe to retry) or at the end of
      DATA (payload received, reply never sent: outcome unknown to the client).
    * ``reply_delay_s``: wait this long before the final DATA reply.

    ``accepted`` lists the messages actually accepted, ``payloads`` counts
    every DATA payload received (including dropped or refused ones).
    """

    def __init__(
        self,
        *,
        fail_first: int = 0,
        fail_code: int = 451,
        fail_at: Literal["MAIL", "DATA"] = "DATA",
        refuse_recipients: Mapping[str, int] | None = None,
        drop_first: int = 0,
        drop_at: Literal["MAIL", "DATA"] = "DATA",
        reply_delay_s: float = 0.0,
    ) -> None:
        self.fail_first = fail_first
        self.fail_code = fail_code
        self.fail_at = fail_at
        self.refuse_recipients = dict(refuse_recipients or {})
        self.drop_first = drop_first
        self.drop_at = drop_at
        self.reply_delay_s = reply_delay_s
        self.transactions = 0
        self.payloads = 0
        self.accepted: list[Received] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.transactions += 1
        envelope.transaction = self.transactions  # type: ignore[attr-defined]
        if self.drop_at == "MAIL" and self.transactions <= self.drop_first:
            await _drop(server)
        if self.fail_at == "MAIL" and self.transactions <= self.fail_first:
            return await self._fail(server)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        code = self.refuse_recipients.get(address)
        if code is not None:
            return f"{code} {'5.1.1 No such user' if code >= 500 else '4.2.1 Mailbox busy, try later'}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.payloads += 1
        transaction: int = envelope.transaction  # type: ignore[attr-defined]
        if self.reply_delay_s:
            await asyncio.sleep(self.reply_delay_s)
        if self.drop_at == "DATA" and transaction <= self.drop_first:
            await _drop(server)
        if self.fail_at == "DATA" and transaction <= self.fail_first:
            return await self._fail(server)
        content = envelope.original_content or b""
        self.accepted.append(
            Received(envelope.mail_from or "", list(envelope.rcpt_tos), message_id_of(content), content)
        )
        return "250 OK"

    async def _fail(self, server: SMTP) -> str:
        reply = f"{self.fail_code} {_FAULT_TEXT.get(self.fail_code, 'Injected fault')}"
        if self.fail_code == 421:
            await server.push(reply)
            await _drop(server)
        return reply


_FAULT_TEXT = {
    421: "4.3.2 Service shutting down, closing channel",
    450: "4.2.0 Mailbox temporarily unavailable",
    451: "4.3.0 Local error in processing, try again",
    452: "4.3.1 Insufficient system storage",
    550: "5.7.1 Message rejected",
    552: "5.3.4 Message too big",
    554: "5.7.0 Transaction failed",
}


async def _drop(server: SMTP) -> None:
    """Close the connection and never reply: aiosmtpd cancels this handler
    when it notices the connection is gone."""
    assert server.transport is not None
    server.transport.close()
    await asyncio.get_running_loop().create_future()


class RunningSink:
    """A started SMTP server: ``host``, ``port``, ``handler``; ``stop()`` or
    use it as a context manager."""

    def __init__(self, controller: Controller, handler: Any, host: str, port: int) -> None:
        self.controller = controller
        self.handler = handler
        self.host = host
        self.port = port

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> RunningSink:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_sink(
    handler: Any,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    tls_context: ssl.SSLContext | None = None,
    require_starttls: bool = False,
    auth_users: dict[str, str] | None = None,
    implicit_tls: bool = False,
    auth_mechanisms: Sequence[str] = ("PLAIN", "LOGIN"),
) -> RunningSink:
    """Start an aiosmtpd server in a background thread and return it running.

    ``tls_context`` offers STARTTLS (``require_starttls`` refuses mail before
    it), or with ``implicit_tls`` wraps the whole connection in TLS (SMTPS).
    ``auth_users`` (user -> password) makes AUTH mandatory, with the given
    ``auth_mechanisms``; AUTH is only offered over TLS.
    """
    if implicit_tls and tls_context is None:
        raise ValueError("implicit_tls needs a tls_context")
    port = port or free_port(host)
    smtp_options: dict[str, Any] = {}
    if tls_context is not None and not implicit_tls:
        smtp_options.update(tls_context=tls_context, require_starttls=require_starttls)
    if auth_users is not None:
        smtp_options.update(
            auth_required=True,
            # aiosmtpd only sees STARTTLS as TLS; implicit TLS is encrypted anyway.
            auth_require_tls=not implicit_tls,
            authenticator=_check_password(auth_users),
            auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in auth_mechanisms],
        )
    controller = Controller(
        handler,
        hostname=host,
        port=port,
        ssl_context=tls_context if implicit_tls else None,
        # A fixed name spares a getfqdn() (sometimes a slow DNS lookup) per connection.
        server_hostname="thidua-sink",
        **smtp_options,
    )
    controller.start()
    return RunningSink(controller, handler, host, port)


def _check_password(users: Mapping[str, str]) -> Callable[..., AuthResult]:
    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            expected = users.get(auth_data.login.decode("utf-8", "replace"))
            if expected is not None and hmac.compare_digest(expected.encode("utf-8"), auth_data.password):
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    return authenticate


def make_self_signed_cert(directory: str | os.PathLike[str], hostname: str = "localhost") -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` for a self-signed certificate valid
    for ``hostname``, localhost and 127.0.0.1; return their paths. Clients can
    trust it by using ``cert.pem`` as their CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.timezone.utc)
    alt_names = {hostname, "localhost"}
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in sorted(alt_names)] + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory = Path(directory)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_tls_context(cert_path: str | os.PathLike[str], key_path: str | os.PathLike[str]) -> ssl.SSLContext:
    """Server-side TLS context for :func:`start_sink`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context


class SinkProcess:
    """`python -m thidua.notifications.sink` as a child process: an SMTP server that does not share the
    client's interpreter (on a small machine an in-process sink takes the client's GIL and CPU)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 60.0,
        server: Literal["lean", "aiosmtpd"] = "lean",
    ) -> None:
        import subprocess
        import sys

        self.host, self.port = host, port or free_port(host)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "thidua.notifications.sink",
                "--dir",
                str(directory),
                "--host",
                host,
                "--port",
                str(self.port),
                "--server",
                server,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        ready = threading.Event()
        output: list[bytes] = []

        def read_first_line() -> None:
            output.append(self.process.stdout.readline())  # type: ignore[union-attr]
            ready.set()

        threading.Thread(target=read_first_line, daemon=True).start()
        if not ready.wait(startup_timeout) or not output[0].startswith(b"SMTP sink on"):
            self.stop()
            raise OSError(
                f"the SMTP sink did not start on {host}:{self.port}: {b''.join(output).decode(errors='replace')}"
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:  # noqa: BLE001 - a sink that ignores SIGTERM is killed
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m thidua.notifications.sink",
        description="Run a local SMTP server that stores every message as an .eml file.",
    )
    parser.add_argument("--dir", required=True, type=Path, help="directory for the .eml files")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--server",
        choices=("lean", "aiosmtpd"),
        default="lean",
        help="lean: the asyncio server of thidua.notifications.lean_smtp (default); aiosmtpd: aiosmtpd's",
    )
    args = parser.parse_args(argv)
    if args.server == "lean":
        from thidua.notifications.lean_smtp import serve_eml_directory

        def ready() -> None:
            print(
                f"SMTP sink on {args.host}:{args.port}, writing .eml files to {args.dir} (Ctrl-C to stop)", flush=True
            )

        serve_eml_directory(args.dir, host=args.host, port=args.port, on_ready=ready)
        return
    sink = start_sink(EmlDirectoryHandler(args.dir), host=args.host, port=args.port)
    print(f"SMTP sink on {sink.host}:{sink.port}, writing .eml files to {args.dir} (Ctrl-C to stop)", flush=True)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())  # docker stop, systemd
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
