"""A lean SMTP server (RFC 5321) for the local mail sink, and the ``.eml`` storage it shares with aiosmtpd.

aiosmtpd runs every connection as a coroutine that awaits each command line and parses every address with
``email._header_value_parser``: about 0.9 ms of CPU per message, which on a 2-core machine the sink takes from
the demo it serves. :class:`LeanSmtpProtocol` is an :class:`asyncio.Protocol` instead: ``data_received`` splits
the input into lines, answers every complete command at once (one write per read, so a PIPELINING client gets
all its replies together), and collects a DATA payload with ``bytes.find`` rather than line by line.

It speaks what a sink needs: EHLO/HELO, MAIL FROM (``SIZE=``, ``BODY=7BIT|8BITMIME``, ``SMTPUTF8``), RCPT TO,
DATA (dot-unstuffed), RSET, NOOP, VRFY (252), HELP, QUIT; no STARTTLS or AUTH (``start_sink`` with aiosmtpd
covers TLS, AUTH and fault injection for the tests). :class:`EmlStore` writes each message as aiosmtpd's
``EmlDirectoryHandler`` does (it is the same code).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import os
import re
import signal
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["EmlStore", "LeanSmtpProtocol", "LeanSmtpServer", "message_id_of", "serve_eml_directory"]

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


def message_id_of(content: bytes) -> str | None:
    """The Message-ID header of a raw message, without parsing the message."""
    header_end = content.find(b"\r\n\r\n")
    match = _MESSAGE_ID.search(content, 0, header_end if header_end >= 0 else len(content))
    return match.group(1).decode("ascii", "replace") if match else None


class EmlStore:
    """Writes each message to ``directory`` as ``<UTC time>-<seq>-<Message-ID hash>.eml``.

    Files appear atomically (written as ``.tmp``, then renamed), so a reader listing ``*.eml`` never sees half
    a message. ``Return-Path`` and ``X-Envelope-To`` are prepended, as a mailbox would, so the envelope
    (including Bcc recipients) stays visible.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._prefix = os.fspath(self.directory) + os.sep
        self._seq = itertools.count(1)

    def store(self, mail_from: str, rcpt_tos: Sequence[str], content: bytes) -> str:
        """Write one message; return its file name (in ``directory``)."""
        message_id = message_id_of(content) or ""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        stem = f"{stamp}-{next(self._seq):06d}-{hashlib.sha1(message_id.encode()).hexdigest()[:12]}"
        trace = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: {', '.join(rcpt_tos)}\r\n".encode()
        tmp = f"{self._prefix}{stem}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            data = memoryview(trace + content)
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)
        name = f"{stem}.eml"
        os.rename(tmp, self._prefix + name)
        return name


# What the server does with an accepted message: returns the final reply ("250 ...").
Deliver = Callable[[str, list[str], bytes], str]
# Test hook: called with ("MAIL"|"RCPT"|"DATA", address or "") before the server's own handling; a reply line
# replaces the normal answer ("421 ..." also closes the connection; "354 ..." to DATA starts the payload even
# without recipients, as a non-conforming server would).
Hook = Callable[[str, str], str | None]

_DATA_END = b"\r\n.\r\n"
_MAX_DATA_LINE = 999  # characters before the CRLF: aiosmtpd refuses a DATA line over 1001 octets with its CRLF
_MAIL_PARAMS = ("SIZE", "BODY", "SMTPUTF8")


class LeanSmtpServer:
    """Configuration shared by the connections of one listening socket."""

    def __init__(
        self,
        deliver: Deliver,
        *,
        hostname: str = "thidua-sink",
        max_message_size: int = 32 * 1024 * 1024,
        max_line_length: int = 1024,
        hook: Hook | None = None,
    ) -> None:
        self.deliver = deliver
        self.hostname = hostname
        self.max_message_size = max_message_size
        self.max_line_length = max_line_length
        self.hook = hook
        self.greeting = f"220 {hostname} ESMTP thidua sink\r\n".encode()
        self.ehlo_reply = (
            f"250-{hostname}\r\n250-SIZE {max_message_size}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
            "250-PIPELINING\r\n250 HELP\r\n"
        ).encode()

    def protocol(self) -> LeanSmtpProtocol:
        return LeanSmtpProtocol(self)

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.get_running_loop().create_server(self.protocol, host, port, reuse_address=True)


class LeanSmtpProtocol(asyncio.Protocol):
    """One SMTP connection; see the module docstring."""

    def __init__(self, server: LeanSmtpServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.greeted = False
        self.mail_from: str | None = None
        self.rcpt_tos: list[str] = []
        self.in_data = False
        self.data_scanned = 0  # payload bytes (from the start of the payload) already searched for its end
        self.data_dropped = False  # the payload outgrew the size limit: discard it, then answer 552
        self.skip_line = False  # the command line outgrew the limit: discard up to its end

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.server.greeting)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.buffer.clear()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        close = self._process(replies)
        transport = self.transport
        if transport is None:
            return
        if replies:
            transport.write(b"".join(replies))
        if close:
            transport.close()
            self.transport = None

    def _process(self, replies: list[bytes]) -> bool:
        """Answer every complete command (and payload) in the buffer; True to close the connection."""
        buffer = self.buffer
        pos = 0
        close = False
        while True:
            if self.in_data:
                pos, done = self._data(pos, replies)
                if not done:
                    break
                continue
            end = buffer.find(b"\n", pos)
            if end < 0:
                if len(buffer) - pos > self.server.max_line_length:
                    pos = len(buffer)
                    if not self.skip_line:
                        self.skip_line = True
                        replies.append(b"500 Error: line too long\r\n")
                break
            line = bytes(buffer[pos:end])
            pos = end + 1
            if self.skip_line:
                self.skip_line = False
                continue
            if len(line) > self.server.max_line_length:
                replies.append(b"500 Error: line too long\r\n")
                continue
            reply = self._command(line.rstrip(b"\r").decode("utf-8", "replace"))
            replies.append(reply.encode("utf-8") + b"\r\n")
            if reply.startswith(("221", "421")):
                close = True
                break
        del buffer[:pos]
        return close

    def _data(self, pos: int, replies: list[bytes]) -> tuple[int, bool]:
        """Look for the end of the payload that starts at ``pos``: (new position, whether it ended)."""
        buffer = self.buffer
        if not self.data_dropped and buffer.startswith(b".\r\n", pos):  # an empty message
            content_end, next_pos = pos, pos + 3
        else:
            # data_scanned counts the payload bytes already searched; the marker may straddle that point.
            found = buffer.find(_DATA_END, pos + max(0, self.data_scanned - 4))
            if found < 0:
                self.data_scanned = len(buffer) - pos
                if self.data_scanned > self.server.max_message_size + 2:
                    # Keep the tail that may start the end marker, drop the rest.
                    del buffer[pos : len(buffer) - 4]
                    self.data_scanned = 4
                    self.data_dropped = True
                return pos, False
            content_end, next_pos = found + 2, found + 5
        content = bytes(buffer[pos:content_end])
        self.in_data = False
        self.data_scanned = 0
        if self.data_dropped or len(content) > self.server.max_message_size:
            self.data_dropped = False
            reply = "552 Error: too much mail data"
        elif len(content) > _MAX_DATA_LINE and max(map(len, content.split(b"\r\n"))) > _MAX_DATA_LINE:
            reply = "500 Line too long (see RFC5321 4.5.3.1.6)"
        elif not self.rcpt_tos:  # a hook accepted DATA without recipients
            reply = "554 Error: no valid recipients"
        else:
            if b"\r\n." in content or content.startswith(b"."):
                content = (b"\r\n" + content).replace(b"\r\n.", b"\r\n")[2:]
            try:
                reply = self.server.deliver(self.mail_from or "", self.rcpt_tos, content)
            except OSError as exc:
                reply = f"451 4.3.0 Could not store the message: {exc.strerror or exc}"
        self.mail_from, self.rcpt_tos = None, []
        replies.append(reply.encode("utf-8") + b"\r\n")
        return next_pos, True

    def _command(self, line: str) -> str:
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        arg = arg.strip()
        if verb == "EHLO" or verb == "HELO":
            if not arg:
                return f"501 Syntax: {verb} hostname"
            self.greeted = True
            self.mail_from, self.rcpt_tos = None, []
            if verb == "HELO":
                return f"250 {self.server.hostname}"
            return self.server.ehlo_reply.decode()[:-2]
        if verb == "MAIL":
            return self._mail(arg)
        if verb == "RCPT":
            return self._rcpt(arg)
        if verb == "DATA":
            return self._data_command(arg)
        if verb == "RSET":
            if arg:
                return "501 Syntax: RSET"
            self.mail_from, self.rcpt_tos = None, []
            return "250 OK"
        if verb == "NOOP":
            return "250 OK"
        if verb == "QUIT":
            return "221 Bye" if not arg else "501 Syntax: QUIT"
        if verb == "VRFY":
            if not arg:
                return "501 Syntax: VRFY <address>"
            return "252 Cannot VRFY user, but will accept message and attempt delivery"
        if verb == "HELP":
            return "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY"
        if verb in ("STARTTLS", "AUTH", "EXPN", "TURN", "ETRN", "BDAT"):
            return f"502 Command not implemented: {verb}"
        if not verb:
            return "500 Error: bad syntax"
        return f'500 Error: command "{verb}" not recognized'

    def _hook(self, verb: str, address: str) -> str | None:
        hook = self.server.hook
        return hook(verb, address) if hook is not None else None

    def _mail(self, arg: str) -> str:
        if not self.greeted:
            return "503 Error: send HELO first"
        if self.mail_from is not None:
            return "503 Error: nested MAIL command"
        if arg[:5].upper() != "FROM:":
            return "501 Syntax: MAIL FROM:<address>"
        parsed = _address(arg[5:])
        if parsed is None:
            return "501 Syntax: MAIL FROM:<address>"
        address, params = parsed
        for param in params:
            name, _, value = param.partition("=")
            name = name.upper()
            if name == "SIZE":
                if not value.isdigit():
                    return "501 Syntax: SIZE=<number>"
                if int(value) > self.server.max_message_size:
                    return "552 Error: message size exceeds fixed maximum message size"
            elif name == "BODY":
                if value.upper() not in ("7BIT", "8BITMIME"):
                    return "501 Error: BODY can only be one of 7BIT, 8BITMIME"
            elif name != "SMTPUTF8" or value:
                return "555 MAIL FROM parameters not recognized or not implemented"
        refusal = self._hook("MAIL", address)
        if refusal is not None:
            return refusal
        self.mail_from, self.rcpt_tos = address, []
        return "250 OK"

    def _rcpt(self, arg: str) -> str:
        if not self.greeted:
            return "503 Error: send HELO first"
        if self.mail_from is None:
            return "503 Error: need MAIL command"
        if arg[:3].upper() != "TO:":
            return "501 Syntax: RCPT TO:<address>"
        parsed = _address(arg[3:])
        if parsed is None or not parsed[0]:
            return "501 Syntax: RCPT TO:<address>"
        address, params = parsed
        if params:
            return "555 RCPT TO parameters not recognized or not implemented"
        refusal = self._hook("RCPT", address)
        if refusal is not None:
            return refusal
        self.rcpt_tos.append(address)
        return "250 OK"

    def _data_command(self, arg: str) -> str:
        if not self.greeted:
            return "503 Error: send HELO first"
        if arg:
            return "501 Syntax: DATA"
        override = self._hook("DATA", "")
        if override is not None and not override.startswith("354"):
            return override
        if override is None:
            if self.mail_from is None:
                return "503 Error: need MAIL command"
            if not self.rcpt_tos:
                return "503 Error: need RCPT command"
        self.in_data = True
        self.data_scanned = 0
        return override or "354 End data with <CR><LF>.<CR><LF>"


def _address(text: str) -> tuple[str, list[str]] | None:
    """``<address> PARAM...`` -> (address, params); None if malformed. A source route ``<@a,@b:x@y>`` is dropped."""
    text = text.lstrip()
    if text.startswith("<"):
        end = text.find(">")
        if end < 0:
            return None
        address, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(" "):
            return None
    else:  # lenient: a bare address, as many servers accept
        address, _, rest = text.partition(" ")
    if address.startswith("@"):
        route_end = address.find(":")
        if route_end < 0:
            return None
        address = address[route_end + 1 :]
    if " " in address or "<" in address or ">" in address:
        return None
    return address, rest.split()


def serve_eml_directory(
    directory: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8025,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run a lean SMTP sink storing ``.eml`` files in ``directory`` until SIGTERM/SIGINT."""
    store = EmlStore(directory)

    def deliver(mail_from: str, rcpt_tos: list[str], content: bytes) -> str:
        return f"250 OK stored as {store.store(mail_from, rcpt_tos, content)}"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopped.set)
        server = await LeanSmtpServer(deliver).start(host, port)
        if on_ready is not None:
            on_ready()
        async with server:
            await stopped.wait()

    asyncio.run(main())
