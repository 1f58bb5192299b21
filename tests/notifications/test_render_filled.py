"""Renderer.render_filled (the mass-mail fast path): rendered once per shared context, each recipient's values
filled in; it must give exactly what a full render gives, or fall back to it."""

from __future__ import annotations

from itertools import product
from pathlib import Path
from typing import Any

import pytest

from thidua.notifications.render import Renderer

pytestmark = pytest.mark.domain  # pure: templates in, text out

PER_RECIPIENT = frozenset({"unit_name", "link", "unsubscribe_url", "escalated_to"})
BASE = "https://thidua.ldld.binhdinh.vn"

NAMES = [
    "CĐCS Trường THCS Nguyễn Trãi",
    'CĐCS Công ty <Mẫu> & Cộng sự "Hoà Bình"',
    "Công đoàn cơ sở Ủy ban nhân dân xã Đắk Lắk — O'Neil",
    "Công đoàn cơ sở " + "Trường Tiểu học Hoàng Hoa Thám " * 8 + "số 1",  # longer than any line
    "A",
    "CĐCS  hai  khoảng trắng",  # not single-spaced: rendered in full
    " CĐCS có khoảng trắng đầu",
    "CĐCS dòng\nmới",
]
LINKS = [
    f"{BASE}/don-vi/nghia-vu/42?t=eyJqIjoiYWJjIn0.Zm9v-YmFy_",
    f"{BASE}/don-vi/nghia-vu/{'9' * 60}?t=a%2Bb&x=<1>",  # long path (shortened with …), & and <> to escape
    "",  # no link: the template's own fallback
]


def shared_contexts() -> list[dict[str, Any]]:
    out = []
    for days_left, returned, escalated_to, unsubscribe in product(
        (3, 0, -6), (False, True), ("", "LĐLĐ huyện Tuy Phước <&>"), (True, False)
    ):
        out.append(
            {
                "campaign_title": "Phong trào thi đua năm 2023",
                "office_department": "Ban Chính sách pháp luật và Quan hệ lao động",
                "office_email": "ban.cspl@ldld.binhdinh.vn",
                "office_name": "LĐLĐ tỉnh Bình Định",
                "obligation_title": "Báo cáo sơ kết đợt 2",
                "due_date": "10/10/2023",
                "days_left": days_left,
                "overdue_days": max(0, -days_left),
                "phrase": "Còn 3 ngày" if days_left > 0 else "Quá hạn 6 ngày",
                "returned": returned,
                "escalated_to": escalated_to,
                "unsubscribe_url": f"{BASE}/huy-nhan-thu/tok" if unsubscribe else "",
            }
        )
    return out


class CountingRenderer(Renderer):
    full_renders = 0

    def render(self, name: str, context: Any):  # type: ignore[no-untyped-def]
        self.full_renders += 1
        return super().render(name, context)


@pytest.mark.parametrize("template", ["reminder_upcoming", "reminder_overdue", "generic"])
def test_filled_mail_is_the_full_render_for_every_recipient(template: str) -> None:
    fast, reference = Renderer(strict=True), Renderer(strict=True)
    mails = 0
    for shared in shared_contexts():
        for i, (name, link) in enumerate(product(NAMES, LINKS)):
            context = {**shared, "unit_name": name, "link": link}
            if template == "generic":
                context |= {"subject": "Thư chung", "body": "Đoạn một.\n\nĐoạn hai.", "greeting": "Kính gửi"}
            if i % 3 == 0:  # a unit-specific unsubscribe link, as reminders carry
                context["unsubscribe_url"] = f"{BASE}/huy-nhan-thu/{i}.sig-_"
            assert fast.render_filled(template, context, PER_RECIPIENT) == reference.render(template, context), (
                shared,
                name,
                link,
            )
            mails += 1
    assert mails == len(shared_contexts()) * len(NAMES) * len(LINKS)


def test_a_mass_mailing_renders_once_per_shared_context_and_fills_in_the_rest() -> None:
    fast, reference = CountingRenderer(strict=True), Renderer(strict=True)
    shared = shared_contexts()[0]
    for i in range(200):
        context = {
            **shared,
            "unit_name": f"CĐCS Trường THCS Nguyễn Trãi số {i}",
            "link": f"{BASE}/don-vi/nghia-vu/{i}?t=tok{i}",
            "unsubscribe_url": f"{BASE}/huy-nhan-thu/u{i}",
        }
        assert fast.render_filled("reminder_upcoming", context, PER_RECIPIENT) == reference.render(
            "reminder_upcoming", context
        )
    assert fast.full_renders == 3  # the shape with placeholders, then the first two mails checked in full


def test_a_template_that_transforms_a_per_recipient_value_falls_back_to_the_full_render(tmp_path: Path) -> None:
    (tmp_path / "x.subject.j2").write_text("Thư cho {{ unit_name | upper }}", encoding="utf-8")
    (tmp_path / "x.txt.j2").write_text("{{ unit_name | truncate(12) }} {{ link | ngan_gon(20) }}", encoding="utf-8")
    (tmp_path / "x.html.j2").write_text("<p>{{ unit_name }}</p>", encoding="utf-8")
    fast, reference = Renderer(tmp_path), Renderer(tmp_path)
    for name in ("CĐCS Hoà Bình", "CĐCS Đắk Lắk số hai mươi", "Trường Á"):
        context = {"unit_name": name, "link": f"{BASE}/don-vi/nghia-vu/{len(name)}?t=abc"}
        assert fast.render_filled("x", context, PER_RECIPIENT) == reference.render("x", context)
    assert set(fast._shapes.values()) == {None}  # the shape was found to differ and dropped


def test_contexts_that_cannot_be_shared_are_rendered_in_full() -> None:
    fast, reference = Renderer(strict=True), Renderer(strict=True)
    context = {
        "subject": "Tổng hợp",
        "body": "Nội dung",
        "unit_name": "CĐCS Mẫu",
        "rows": [{"a": 1}],  # unhashable: no shared key
    }
    assert fast.render_filled("generic", context, PER_RECIPIENT) == reference.render("generic", context)
    assert not fast._shapes
