"""Issue 11 point 12: no internal text from configuration notes ("seed 001", "GIẢ ĐỊNH", …) in any mail a
unit receives: every template, built as dispatch builds it from the 2023 campaign, in both its parts."""

from __future__ import annotations

from tests.notifications.test_mail_standards import bd, build_all  # noqa: F401  (bd is a fixture)
from tests.web.test_week_one_screens import INTERNAL


def test_no_mail_carries_internal_notes(bd) -> None:  # noqa: ANN001, F811
    _, built = build_all(bd)
    problems = []
    for name, (_, message) in built.items():
        parts = [message["Subject"], message.get_body(preferencelist=("plain",)).get_content()]
        html = message.get_body(preferencelist=("html",))
        if html is not None:
            parts.append(html.get_content())
        for part in parts:
            found = INTERNAL.search(str(part))
            if found:
                problems.append(f"{name}: '{found.group(0)}'")
    assert not problems, "\n".join(problems)
