"""Fast MIME builder for outgoing notification mail.

``email.message.EmailMessage`` + ``as_bytes()`` costs ~2.8 ms per message here,
mostly in the header-folding machinery of ``email.policy``. Notifications only
ever need one shape of message (text, optionally with an HTML alternative), so
this module writes that shape directly:

* headers with non-ASCII text (Vietnamese subjects, unit names as display
  names) become RFC 2047 ``=?utf-8?b?...?=`` encoded-words, split on UTF-8
  character boundaries so that every line stays within 76 characters;
* bodies are UTF-8, base64 encoded in 76-character lines, byte-exact (no
  line-ending rewriting, so they decode to exactly the text given);
* every line ends in CRLF and the whole message is 7-bit ASCII, so it can be
  handed to any SMTP server as is.

Header values that repeat across a batch (sender, Reply-To, recipients who get
several mails, extra headers) are encoded once and cached.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

__all__ = ["build_message", "message_id_for"]

# RFC 2047: an encoded-word is at most 75 characters and a line holding one at
# most 76; "=?utf-8?b?" + "?=" is 12 of them.
_MAX_LINE = 76
_WORD_OVERHEAD = len("=?utf-8?b?") + len("?=")
_BODY_LINE = 76

# RFC 5322 "specials": a display name containing one must be quoted.
_NEEDS_QUOTING = re.compile(r'[()<>\[\]:;@\\,."]')
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+")
_ADDR_SPEC = re.compile(r"[!#-'*+\-/-9=?A-Z^-~.]+@[A-Za-z0-9.\-\[\]:]+")
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII, no <>
_HEADER_NAME = re.compile(r"[!-9;-~]+")
# Headers build_message writes itself; extra_headers must not duplicate them.
_RESERVED = frozenset(
    h.lower()
    for h in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Reply-To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
    )
)


def message_id_for(key: str, domain: str) -> str:
    """Deterministic Message-ID for a ledger key, so that a resend of the same
    notification carries the same id (receivers and our own sink can spot it)."""
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:24]
    return f"<thidua.{digest}@{_idna(domain)}>"


@functools.lru_cache(maxsize=64)
def _idna(domain: str) -> str:
    return domain.encode("idna").decode("ascii")


def build_message(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    reply_to: str | None = None,
    date: datetime | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> bytes:
    """Return the complete RFC 5322 message as CRLF-terminated ASCII bytes.

    ``sender``, ``reply_to`` and each ``to`` entry are either a bare address or
    ``Display Name <address>`` (the name may be quoted and may hold any
    Unicode). Addresses themselves must be ASCII. With ``html`` the body is
    multipart/alternative (text/plain then text/html), otherwise text/plain.
    ``message_id`` is wrapped in <> if it is not already. ``date`` defaults
    to now; a naive datetime is taken as local time.

    Lines stay within 76 characters, except that a display name with a very
    long run of non-ASCII words keeps that run in one longer encoded-word
    (see ``_phrase_tokens``).

    Raises ``ValueError`` for CR/LF in a header value, a malformed address or
    Message-ID, or an extra header that would duplicate one written here.
    """
    if not to:
        raise ValueError("at least one recipient is required")
    if not message_id.startswith("<"):
        message_id = f"<{message_id}>"
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValueError(f"not a valid Message-ID: {message_id!r}")

    lines = [
        "From: " + _mailbox(sender, len("From: ")),
        "To: " + _mailbox_list(tuple(to)),
    ]
    if reply_to:
        lines.append("Reply-To: " + _mailbox(reply_to, len("Reply-To: ")))
    lines.append(_unstructured("Subject", subject))
    lines.append("Date: " + _date(date))
    lines.append("Message-ID: " + message_id)
    lines.append("MIME-Version: 1.0")
    if extra_headers:
        for name, value in extra_headers.items():
            lines.append(_extra_header(name, value))

    if html is None:
        lines.append(_TEXT_PART_HEADERS)
        lines.append("")
        head = "\r\n".join(lines).encode("ascii")
        return head + b"\r\n" + _base64_body(text.encode("utf-8")) + b"\r\n"

    boundary = "=_" + hashlib.sha1(message_id.encode("ascii")).hexdigest()[:24]
    # Base64 never produces "-", so no body line can look like the boundary.
    lines.append(f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"')
    lines.append("")
    lines.append(f"--{boundary}")
    lines.append(_TEXT_PART_HEADERS)
    lines.append("")
    head = "\r\n".join(lines).encode("ascii")
    middle = f"\r\n--{boundary}\r\n{_HTML_PART_HEADERS}\r\n\r\n".encode("ascii")
    tail = f"\r\n--{boundary}--\r\n".encode("ascii")
    return b"".join(
        (
            head,
            b"\r\n",
            _base64_body(text.encode("utf-8")),
            middle,
            _base64_html(html.encode("utf-8")),
            tail,
        )
    )


_TEXT_PART_HEADERS = 'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64'
_HTML_PART_HEADERS = 'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64'


def _base64_body(data: bytes) -> bytes:
    """Base64 in CRLF-terminated lines of 76 characters (RFC 2045)."""
    encoded = binascii.b2a_base64(data, newline=False)
    if len(encoded) <= _BODY_LINE:
        return encoded
    return b"\r\n".join([encoded[i : i + _BODY_LINE] for i in range(0, len(encoded), _BODY_LINE)])


# The HTML of a mass mailing starts with the same layout (head, styles, campaign banner) in every mail: the
# base64 of its first _PREFIX bytes (whole lines: 57 bytes make one 76-character line) is looked up, not redone.
_PREFIX = 57 * 12
_MAX_PREFIXES = 64
_prefix_lines: dict[bytes, bytes] = {}


def _base64_html(data: bytes) -> bytes:
    """`_base64_body(data)`, the lines of a prefix seen before taken as they were."""
    if len(data) <= _PREFIX:
        return _base64_body(data)
    prefix = data[:_PREFIX]
    lines = _prefix_lines.get(prefix)
    if lines is None:
        if len(_prefix_lines) >= _MAX_PREFIXES:
            _prefix_lines.clear()
        lines = _prefix_lines[prefix] = _base64_body(prefix)
    return lines + b"\r\n" + _base64_body(data[_PREFIX:])


def _check_single_line(name: str, value: str) -> None:
    # A CR or LF in a header value would let data inject headers or a body.
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name} must not contain CR or LF: {value!r}")


def _encoded_words(text: str, first_room: int) -> list[str]:
    """Split ``text`` into B encoded-words: the first fits in ``first_room``
    characters, the rest in a folded line (75 characters after the space).

    Cuts fall on UTF-8 character boundaries, as RFC 2047 requires of each word.
    """
    data = text.encode("utf-8")
    words = []
    room = first_room
    start = 0
    while start < len(data):
        # 4 base64 characters carry 3 bytes.
        end = min(len(data), start + (room - _WORD_OVERHEAD) // 4 * 3)
        while end < len(data) and data[end] & 0xC0 == 0x80:  # continuation byte
            end -= 1
        chunk = binascii.b2a_base64(data[start:end], newline=False).decode("ascii")
        words.append(f"=?utf-8?b?{chunk}?=")
        start = end
        room = _MAX_LINE - 1
    return words


def _fold(prefix_len: int, text: str) -> str:
    """Encoded-words for ``text`` starting after ``prefix_len`` characters."""
    room = _MAX_LINE - prefix_len
    if room < _WORD_OVERHEAD + 8:
        # Not even two characters fit: start the words on a fresh line.
        return "\r\n " + "\r\n ".join(_encoded_words(text, _MAX_LINE - 1))
    return "\r\n ".join(_encoded_words(text, room))


@functools.lru_cache(maxsize=4096)
def _unstructured(name: str, value: str) -> str:
    """``Name: value`` for free text such as Subject, encoded only when needed."""
    _check_single_line(name, value)
    prefix = len(name) + 2
    if not value:
        return f"{name}:"
    plain = (
        value.isascii()
        and value.isprintable()
        and "=?" not in value  # would be decoded as an encoded-word
        and value == " ".join(value.split())  # folding keeps single spaces only
    )
    if plain:
        return f"{name}: {_fold_tokens(prefix, value.split(' '))}"
    return f"{name}: {_fold(prefix, value)}"


def _split_mailbox(value: str) -> tuple[str, str]:
    """``Name <addr>`` / ``"Name" <addr>`` / ``addr`` -> (name, addr)."""
    value = value.strip()
    if value.endswith(">") and "<" in value:
        cut = value.rindex("<")
        name, addr = value[:cut].strip(), value[cut + 1 : -1].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = re.sub(r"\\(.)", r"\1", name[1:-1])
        return name, addr
    return "", value


def _encoded_word(text: str) -> str:
    data = binascii.b2a_base64(text.encode("utf-8"), newline=False).decode("ascii")
    return f"=?utf-8?b?{data}?="


def _phrase_tokens(name: str) -> list[str]:
    """A display name as phrase tokens to be joined by single spaces.

    RFC 2047 says whitespace between two adjacent encoded-words is ignored,
    but the stdlib parser keeps it inside display names. To read the same
    everywhere, encoded-words never touch each other: each run of words that
    cannot be plain atoms becomes ONE encoded-word (including its inner
    spaces), and plain ASCII words in between stay atoms. A run longer than
    RFC 2047's 75 characters is still kept whole: every decoder accepts it,
    whereas splitting it would change the name in some of them.
    """
    if name.isascii() and name.isprintable():
        if not _NEEDS_QUOTING.search(name) and "=?" not in name and name == " ".join(name.split()):
            return name.split(" ")
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return [f'"{escaped}"']
    if name != " ".join(name.split()):
        # Odd whitespace would not survive phrase parsing; keep it encoded.
        return [_encoded_word(name)]
    tokens: list[str] = []
    run: list[str] = []
    for word in name.split(" "):
        if _ATOM.fullmatch(word) and "=?" not in word:
            if run:
                tokens.append(_encoded_word(" ".join(run)))
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens.append(_encoded_word(" ".join(run)))
    return tokens


def _fold_tokens(prefix_len: int, tokens: list[str]) -> str:
    """Join tokens with spaces, folding (CRLF + space) before a token that
    would push the line past 76 characters."""
    out = [tokens[0]]
    line = prefix_len + len(tokens[0])
    for token in tokens[1:]:
        if line + 1 + len(token) > _MAX_LINE:
            out.append("\r\n ")
            line = 1 + len(token)
        else:
            out.append(" ")
            line += 1 + len(token)
        out.append(token)
    return "".join(out)


@functools.lru_cache(maxsize=4096)
def _mailbox(value: str, prefix_len: int) -> str:
    """One mailbox formatted to follow ``prefix_len`` characters on its line."""
    _check_single_line("address", value)
    name, addr = _split_mailbox(value)
    if not _ADDR_SPEC.fullmatch(addr):
        raise ValueError(f"not a valid ASCII e-mail address: {addr!r}")
    if not name:
        return addr
    return _fold_tokens(prefix_len, [*_phrase_tokens(name), f"<{addr}>"])


def _mailbox_list(values: tuple[str, ...]) -> str:
    # One mailbox per line keeps every line short without measuring each one.
    first = _mailbox(values[0], len("To: "))
    return ",\r\n ".join([first, *(_mailbox(v, 1) for v in values[1:])])


def _extra_header(name: str, value: str) -> str:
    _check_header_name(name)
    _check_single_line(name, value)
    if value.isascii():
        # Structured values (List-Unsubscribe URLs...) must stay verbatim;
        # RFC 5322 allows lines up to 998 characters.
        line = f"{name}: {value}"
        if len(line) > 998:
            raise ValueError(f"{name} is longer than 998 characters")
        return line
    return _unstructured(name, value)


@functools.lru_cache(maxsize=256)
def _check_header_name(name: str) -> None:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"invalid header name: {name!r}")
    if name.lower() in _RESERVED:
        raise ValueError(f"{name} is written by build_message; pass it as an argument")


_date_cache: tuple[int, str] = (-1, "")


# The datetime object last formatted (kept alive here, so `is` means that very object) and its text.
_last_date: tuple[datetime | None, str] = (None, "")


def _date(date: datetime | None) -> str:
    global _date_cache, _last_date
    if date is not None:
        last = _last_date
        if last[0] is date:  # a pass hands every mail the same moment
            return last[1]
        aware = date if date.tzinfo else date.astimezone()
        # Keyed by wall time and offset: aware datetimes compare (and hash) equal across offsets.
        text = _formatted_date(aware.replace(tzinfo=None), aware.utcoffset())
        if date.tzinfo:  # a naive one is read in the local zone of the moment of the call
            _last_date = (date, text)
        return text
    now = datetime.now().astimezone()
    # Formatting the date is a noticeable share of the build; it changes once a second.
    second = int(now.timestamp())
    if _date_cache[0] != second:
        _date_cache = (second, format_datetime(now.replace(microsecond=0)))
    return _date_cache[1]


@functools.lru_cache(maxsize=64)
def _formatted_date(wall: datetime, offset: timedelta | None) -> str:
    """A dispatch pass dates every mail with the moment of the pass: format it once."""
    return format_datetime(wall.replace(tzinfo=timezone(offset or timedelta(0))))
