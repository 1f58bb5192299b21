"""build_message: wire format, and exact round-trip through the stdlib parser."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest

from thidua.notifications.message import build_message, message_id_for

pytestmark = pytest.mark.domain  # pure rules: `make test-fast`

SUBJECT = "Còn 3 ngày: báo cáo sơ kết đợt 2 hạn 10/10/2023"
SENDER = '"Liên đoàn Lao động tỉnh Bình Định" <ldld@binhdinh.vn>'
TEXT = (
    "Kính gửi Công đoàn cơ sở Trường THPT Nguyễn Du,\n\n"
    "Đề nghị đơn vị nộp báo cáo sơ kết đợt 2 trước ngày 10/10/2023.\n"
    ".Dòng bắt đầu bằng dấu chấm\n"
) * 5
HTML = "<p>Kính gửi <b>Công đoàn cơ sở</b> Trường THPT Nguyễn Du</p>"


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def build(**overrides: object) -> bytes:
    options: dict[str, object] = dict(
        sender=SENDER,
        to=["Công đoàn cơ sở Trường THPT Nguyễn Du <cdcs.nguyendu@binhdinh.edu.vn>"],
        subject=SUBJECT,
        text=TEXT,
        html=HTML,
        message_id="<m1@thidua.test>",
    )
    options.update(overrides)
    return build_message(**options)  # type: ignore[arg-type]


def assert_wire_format(raw: bytes) -> None:
    assert raw.isascii()
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    assert b"\r" not in raw.replace(b"\r\n", b""), "bare CR"
    for line in raw.split(b"\r\n"):
        if len(line) > 76:
            # Only a display name's long non-ASCII run may exceed 76, as one
            # whole encoded-word (splitting it would read differently in
            # RFC 2047 readers and in the stdlib).
            assert len(line) <= 998
            assert re.fullmatch(rb"(?:[A-Za-z-]+:)? =\?utf-8\?b\?[A-Za-z0-9+/=]+\?=( <[^>]+>,?)?", line), line


@pytest.mark.parametrize(
    "subject",
    [
        SUBJECT,
        "Thông báo kết quả bình xét thi đua khen thưởng năm 2023 của Liên đoàn Lao động "
        "tỉnh Bình Định — Công đoàn ngành Giáo dục, đợt tổng kết cuối năm (lần 2)",
        "Plain ASCII subject",
        "A long ASCII subject " * 8,
        "  leading and trailing spaces  ",
        "double  space and\ttab",
        "looks like =?utf-8?q?an_encoded_word?= but is not",
        "Ươm mầm 🌱 xanh",
        "",
    ],
)
def test_subject_round_trips_exactly(subject: str) -> None:
    raw = build(subject=subject)
    assert_wire_format(raw)
    assert parse(raw)["Subject"] == subject


def test_vietnamese_subject_is_encoded_words_on_the_wire() -> None:
    raw = build()
    header = raw.split(b"\r\nDate:")[0].split(b"Subject: ")[1]
    assert header.startswith(b"=?utf-8?b?")
    for word in re.findall(rb"=\?[^?]+\?b\?[^?]*\?=", header):
        assert len(word) <= 75


@pytest.mark.parametrize(
    ("mailbox", "name", "addr"),
    [
        (SENDER, "Liên đoàn Lao động tỉnh Bình Định", "ldld@binhdinh.vn"),
        ("Công đoàn cơ sở X <a@b.vn>", "Công đoàn cơ sở X", "a@b.vn"),
        ('"Công đoàn cơ sở X" <a@b.vn>', "Công đoàn cơ sở X", "a@b.vn"),
        (
            "Công đoàn Trường THPT Nguyễn Du, TP. Quy Nhơn <c@d.vn>",
            "Công đoàn Trường THPT Nguyễn Du, TP. Quy Nhơn",
            "c@d.vn",
        ),
        (
            "Ban Chấp hành Công đoàn cơ sở Trường Trung học phổ thông chuyên Lê Quý Đôn "
            "thành phố Quy Nhơn tỉnh Bình Định <cd@lqd.edu.vn>",
            "Ban Chấp hành Công đoàn cơ sở Trường Trung học phổ thông chuyên Lê Quý Đôn "
            "thành phố Quy Nhơn tỉnh Bình Định",
            "cd@lqd.edu.vn",
        ),
        (
            "Công đoàn cơ sở Trường tiểu học số một phường Nhơn Bình thành phố <th1@x.vn>",
            "Công đoàn cơ sở Trường tiểu học số một phường Nhơn Bình thành phố",
            "th1@x.vn",
        ),
        ('"Smith, John \\"JJ\\"" <j@x.vn>', 'Smith, John "JJ"', "j@x.vn"),
        ("plain@x.vn", "", "plain@x.vn"),
        ("<bracketed@x.vn>", "", "bracketed@x.vn"),
    ],
)
def test_display_names_round_trip_exactly(mailbox: str, name: str, addr: str) -> None:
    raw = build(sender=mailbox, to=[mailbox, "other@x.vn"], reply_to=mailbox)
    assert_wire_format(raw)
    message = parse(raw)
    for header in ("From", "Reply-To"):
        (address,) = message[header].addresses
        assert (address.display_name, address.addr_spec) == (name, addr)
    to = message["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in to] == [(name, addr), ("", "other@x.vn")]
    assert not message.defects and not message["From"].defects


def test_encoded_words_never_touch_inside_a_display_name() -> None:
    # RFC 2047 readers drop the space between adjacent encoded-words; the
    # stdlib keeps it. Plain atoms between them keep both readings identical.
    raw = build(sender="Công đoàn THPT Nguyễn Du <a@b.vn>")
    from_line = raw.split(b"\r\nTo:")[0]
    assert not re.search(rb"\?=\s+=\?", from_line)


def test_multipart_alternative_bodies_decode_exactly() -> None:
    message = parse(build())
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.iter_parts()
    assert plain.get_content_type() == "text/plain" and plain.get_content_charset() == "utf-8"
    assert html.get_content_type() == "text/html"
    assert plain.get_content() == TEXT
    assert html.get_content() == HTML
    assert plain["Content-Transfer-Encoding"] == "base64"


@pytest.mark.parametrize("text", ["", "một dòng", "CRLF\r\nlines\r\n", "x" * 5000])
def test_text_only_message_is_single_part(text: str) -> None:
    raw = build(text=text, html=None)
    assert_wire_format(raw)
    message = parse(raw)
    assert message.get_content_type() == "text/plain"
    assert message.get_content() == text


def test_core_headers() -> None:
    when = datetime(2023, 10, 7, 8, 30, tzinfo=timezone(timedelta(hours=7)))
    message = parse(build(message_id="abc.123@thidua.test", date=when))
    assert message["Message-ID"] == "<abc.123@thidua.test>"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"] == "Sat, 07 Oct 2023 08:30:00 +0700"
    assert message["Date"].datetime == when


def test_default_date_is_now() -> None:
    message = parse(build())
    assert abs(message["Date"].datetime - datetime.now(timezone.utc)) < timedelta(seconds=5)


def test_extra_headers() -> None:
    raw = build(
        extra_headers={
            "List-Unsubscribe": "<mailto:unsub@thidua.test?subject=k1>, <https://thidua.test/u/k1>",
            "X-Thidua-Unit": "Công đoàn ngành Giáo dục",
        }
    )
    message = parse(raw)
    assert b"List-Unsubscribe: <mailto:unsub@thidua.test?subject=k1>, <https://thidua.test/u/k1>" in raw
    assert message["X-Thidua-Unit"] == "Công đoàn ngành Giáo dục"


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Injected\r\nBcc: victim@x.vn"},
        {"to": ["Name <a@b.vn>\r\nBcc: victim@x.vn"]},
        {"to": ["not an address"]},
        {"to": ["a@b.vn, c@d.vn"]},
        {"to": ["người@tênmiền.vn"]},
        {"to": []},
        {"extra_headers": {"Subject": "twice"}},
        {"extra_headers": {"Bad Name": "x"}},
        {"extra_headers": {"X-A": "x\ny"}},
        {"message_id": "no-at-sign"},
        {"message_id": "<a b@c>"},
        {"message_id": "<id@x>\r\nBcc: victim@x.vn"},
    ],
)
def test_invalid_input_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build(**overrides)


def test_message_id_for_is_deterministic_per_key() -> None:
    first = message_id_for("campaign-7/unit-12/reminder-3", "thidua.test")
    assert first == message_id_for("campaign-7/unit-12/reminder-3", "thidua.test")
    assert first != message_id_for("campaign-7/unit-12/reminder-4", "thidua.test")
    assert re.fullmatch(r"<thidua\.[0-9a-f]{24}@thidua\.test>", first)
    assert parse(build(message_id=first))["Message-ID"] == first


def test_at_least_ten_times_faster_than_email_message() -> None:
    def fast(i: int) -> bytes:
        return build(to=[f"Công đoàn cơ sở số {i} <u{i}@x.vn>"], subject=f"{SUBJECT} ({i})", text=f"{TEXT}{i}")

    def naive(i: int) -> bytes:
        msg = EmailMessage()
        msg["From"] = SENDER
        msg["To"] = f"Công đoàn cơ sở số {i} <u{i}@x.vn>"
        msg["Subject"] = f"{SUBJECT} ({i})"
        msg["Message-ID"] = "<m1@thidua.test>"
        msg["Date"] = email.utils.formatdate(localtime=True)
        msg.set_content(f"{TEXT}{i}")
        msg.add_alternative(HTML, subtype="html")
        return msg.as_bytes()

    def per_message(build_one: Callable[[int], bytes], count: int) -> float:
        start = time.perf_counter()
        for i in range(count):
            build_one(i)
        return (time.perf_counter() - start) / count

    assert per_message(naive, 20) / per_message(fast, 200) >= 10
