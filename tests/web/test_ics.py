"""The calendar feed: RFC 5545 content lines (CRLF, folded at 75 octets, escaped text), per-user secret."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

from tests.web.conftest import World, csrf_of, sign_in
from thidua.web.ics import Deadline, build_calendar, escape_text, fold


def unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_long_vietnamese_lines_are_folded_on_character_boundaries() -> None:
    line = "SUMMARY:" + "Báo cáo sơ kết đợt 3 và tổng kết phong trào thi đua năm 2023 " * 3
    folded = fold(line)
    parts = folded.split("\r\n")
    assert len(parts) > 2
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert folded.replace("\r\n ", "") == line  # each part decodes on its own: no character was cut


def test_text_values_are_escaped() -> None:
    assert escape_text("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"


def test_calendar_structure() -> None:
    body = build_calendar(
        "Hạn nộp – CĐCS A",
        [
            Deadline("a-1@x", date(2023, 6, 10), "Hạn nộp: Báo cáo, đợt 1", "Dòng 1\nDòng 2", "http://x/1"),
            Deadline("a-2@x", date(2023, 12, 15), "✓ Tổng kết", "", "http://x/2", done=True),
        ],
        generated_at=datetime(2023, 6, 5, 3, tzinfo=timezone.utc),
        tz="Asia/Ho_Chi_Minh",
    )
    assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", "")
    lines = unfold(body.rstrip("\r\n"))
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR"
    assert {"VERSION:2.0", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"} <= set(lines)
    assert any(line.startswith("PRODID:") for line in lines)
    events = body.count("BEGIN:VEVENT")
    assert events == 2 and body.count("END:VEVENT") == 2
    assert "DTSTART;VALUE=DATE:20230610" in lines and "DTEND;VALUE=DATE:20230611" in lines
    assert "DTSTAMP:20230605T030000Z" in lines
    assert "SUMMARY:Hạn nộp: Báo cáo\\, đợt 1" in lines and "DESCRIPTION:Dòng 1\\nDòng 2" in lines
    assert body.count("BEGIN:VALARM") == 1  # no alarm for what was already submitted
    for required in ("UID:", "DTSTAMP:", "DTSTART"):
        assert sum(line.startswith(required) for line in lines) == 2


def test_feed_by_secret_address_and_revocation(world: World, client) -> None:
    sign_in(client, world, "officer_d1_1")
    page = client.get("/don-vi/lich").text
    assert "Tạo địa chỉ lịch" in page and "/lich/" not in page
    client.post("/don-vi/lich", data={"_csrf": csrf_of(client, world)})
    url = re.search(r'id="o-dia-chi-lich" value="([^"]+)"', client.get("/don-vi/lich").text).group(1)
    path = url.removeprefix(world.settings.base_url)
    client.cookies.clear()  # a calendar application has no session
    feed = client.get(path)
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    lines = unfold(feed.text)
    assert "DTSTART;VALUE=DATE:20230610" in lines  # so-ket-dot-1
    assert feed.text.count("BEGIN:VEVENT") == 6
    assert any(line.startswith("X-WR-CALNAME:Hạn nộp – CĐCS Đơn vị Mẫu 1-1") for line in lines)

    sign_in(client, world, "officer_d1_1")  # a second device: the page offers the same address, with ways to add it
    page = client.get("/don-vi/lich").text
    assert url in page and f'href="webcal://{url.split("://", 1)[1]}"' in page and "data-copy=" in page
    assert "https://calendar.google.com/calendar/r?cid=webcal%3A%2F%2F" in page and "iPhone" in page
    refused = client.post("/don-vi/lich", data={"_csrf": csrf_of(client, world)})  # no confirmation: nothing changes
    assert refused.status_code == 422 and "hãy dùng đúng địa chỉ này" in refused.text
    client.cookies.clear()
    assert client.get(path).status_code == 200  # the first device's feed still works

    sign_in(client, world, "officer_d1_1")
    client.get("/don-vi/lich")
    client.post("/don-vi/lich", data={"_csrf": csrf_of(client, world), "thu_hoi": "1"})  # revoked on purpose
    client.cookies.clear()
    assert client.get(path).status_code == 403
