"""What the mail hot path remembers between messages gives what working it out again gives: the short text of a
link, the base64 of an HTML body whose beginning was seen before, the Date of one moment."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest

from thidua.notifications import message
from thidua.notifications.render import short_link_text

pytestmark = pytest.mark.domain


def _reference_short_text(url: str, limit: int = 48) -> str:
    """short_link_text as it was written before: one urlsplit of the whole URL."""
    text = urlsplit(str(url))
    shown = (text.netloc + text.path) if text.netloc else str(url)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


URLS = [
    "http://127.0.0.1:8000/don-vi/nghia-vu/1405?t=.eJxly.abc-_",
    "https://thidua.ldld.binhdinh.vn/huy-nhan-thu/WyJjZCJd.sig",
    "https://thidua.example.vn/don-vi/nghia-vu/" + "9" * 60 + "?t=a%2Bb&x=<1>",
    "https://h.vn/a#frag?t=1",  # fragment before the query
    "https://h.vn/a?t=1#frag",
    "https://h.vn?t=x:y/z",  # no path; ":" and "/" in the query
    "mailto:cd@example.vn?subject=x",
    "/don-vi/nghia-vu/3?t=1",  # no host: shown whole
    "chữ?có dấu",
    " \t https://h.vn/có-dấu?t=1",
    "https://[::1]:8000/a?t=1",
    "",
    "?",
    "#",
    "https://h.vn/a\tb?t=1",
]


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("limit", [48, 20, 5])
def test_short_link_text_is_the_split_of_the_whole_url(url: str, limit: int) -> None:
    assert short_link_text(url, limit) == _reference_short_text(url, limit)
    assert short_link_text(url, limit) == _reference_short_text(url, limit)  # remembered: the same again


def test_short_link_text_of_a_broken_host_still_raises() -> None:
    with pytest.raises(ValueError):
        _reference_short_text("https://[::1/a?t=1")
    with pytest.raises(ValueError):
        short_link_text("https://[::1/a?t=1")


def test_html_base64_with_a_remembered_prefix_is_the_plain_base64() -> None:
    rnd = random.Random(5)
    layout = "<!DOCTYPE html><html><head><title>Nhắc hạn nộp báo cáo</title></head><body>" * 12
    for size in [0, 1, 56, 57, 683, 684, 685, 740, 741, 3000]:
        for _ in range(3):
            tail = "".join(rnd.choice("abcđêư <>&\n") for _ in range(rnd.randint(0, 400)))
            data = (layout + tail).encode("utf-8")[:size] if size < 3000 else (layout + tail).encode("utf-8")
            assert message._base64_html(data) == message._base64_body(data)


def test_the_date_of_one_moment_object_is_formatted_once_and_right() -> None:
    moment = datetime(2023, 6, 12, 8, 0, tzinfo=timezone(timedelta(hours=7)))
    assert message._date(moment) == "Mon, 12 Jun 2023 08:00:00 +0700"
    assert message._date(moment) == "Mon, 12 Jun 2023 08:00:00 +0700"
    other = datetime(2023, 6, 12, 1, 0, tzinfo=UTC)  # the same instant, another offset: its own text
    assert message._date(other) == "Mon, 12 Jun 2023 01:00:00 +0000"
    assert message._date(moment) == "Mon, 12 Jun 2023 08:00:00 +0700"


# --- the transport's shortcuts ------------------------------------------------------------------------------

HOSTILE_TEXTS = [
    ".",
    ".starts with a dot\n..two dots\r\n.\r\nend",
    "bare LF\nbare CR\rCRLF\r\n",
    "\n.\n",
    "",
    "Kính gửi Công đoàn cơ sở.\n.\nHạn nộp: 10/10/2023." * 40,
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
@pytest.mark.parametrize("html", [None, "<p>.</p>\n.\n<p>hết</p>"])
def test_what_build_message_writes_needs_no_normalising_on_the_wire(text: str, html: str | None) -> None:
    """`wire_ready` skips the scan of the DATA payload: build_message's bytes must be what the scan would send."""
    from thidua.notifications.transport import _data_payload

    raw = message.build_message(
        sender='".Liên đoàn." <thidua@ldld.binhdinh.vn>',
        to=[".Công đoàn cơ sở. <.cd.@donvi.binhdinh.vn>", "x@donvi.binhdinh.vn"],
        subject=".Còn 3 ngày:\u00a0" + "báo cáo sơ kết " * 8,
        text=text,
        html=html,
        message_id="<thidua.1@thidua.test>",
        extra_headers={"X-Thidua-Kind": ".reminder", "List-Id": '".a." <a.thidua.test>'},
    )
    assert raw.endswith(b"\r\n")
    assert _data_payload(raw) == raw + b".\r\n"


def test_composed_mail_is_marked_wire_ready_and_sent_as_the_scan_would() -> None:
    from thidua.notifications.transport import OutgoingMessage, _data_payload, _payload_of

    raw = message.build_message(
        sender="thidua@ldld.binhdinh.vn",
        to=["cd@donvi.binhdinh.vn"],
        subject="s",
        text=".\n.",
        html=None,
        message_id="<m@t>",
    )
    assert _payload_of(OutgoingMessage("k", "a@b.vn", ["c@d.vn"], raw, wire_ready=True)) == _data_payload(raw)
    # Bytes from elsewhere are still normalised and dot-stuffed.
    foreign = b"Subject: x\n\n.line\nend"
    assert (
        _payload_of(OutgoingMessage("k", "a@b.vn", ["c@d.vn"], foreign)) == b"Subject: x\r\n\r\n..line\r\nend\r\n.\r\n"
    )


ADDRESSES = [
    "cdcs0123@donvi.binhdinh.vn",
    "a.b+tag@x-y.vn",
    "o'brien@example.com",
    "!#$%&'*+/=?^_`{|}~-@h.vn",
    "a..b@x.vn",
    ".a@x.vn",
    "a.@x.vn",
    "a@x..vn",
    "a@.x.vn",
    "a@x.vn.",
    "Tên <a@x.vn>",
    "<a@x.vn>",
    '"a b"@x.vn',
    "a@[127.0.0.1]",
    " a@x.vn ",
    "a@x.vn (note)",
    "a",
    "",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_plain_addresses_are_quoted_as_aiosmtplib_quotes_them(address: str) -> None:
    from aiosmtplib.email import quote_address

    from thidua.notifications.transport import _quoted

    try:
        expected: bytes | type[ValueError] = quote_address(address).encode("ascii")
    except ValueError:
        expected = ValueError
    try:
        got: bytes | type[ValueError] = _quoted(address)
    except ValueError:
        got = ValueError
    assert got == expected
