"""The HTML of every mail template, rendered in Debian's chromium at phone and desktop width and checked by
axe-core (npm package, installed by scripts/ensure-test-tools.sh): no serious or critical violation (colour
contrast AA included), and nothing wider than a 390 px phone screen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.notifications.test_mail_standards import bd, build_all  # noqa: F401  (bd is a fixture)
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
from thidua.settings import REPO_ROOT

AXE = Path(os.environ.get("THIDUA_AXE_JS") or REPO_ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js")
WIDTHS = (390, 1280)


@pytest.fixture(scope="module")
def chromium():  # noqa: ANN201
    if not CHROMIUM.exists():
        pytest.skip(f"Không có Chromium tại {CHROMIUM} (cài bằng: apt-get install -y chromium)")
    if not AXE.exists():
        pytest.skip(f"Không có axe-core tại {AXE} (cài bằng: bash scripts/ensure-test-tools.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_every_mail_template_passes_axe_and_fits_a_phone(bd, chromium) -> None:  # noqa: ANN001, F811
    _, built = build_all(bd)
    problems = []
    for width in WIDTHS:
        page = chromium.new_page(viewport={"width": width, "height": 900})
        for name, (_, message) in built.items():
            html = message.get_body(preferencelist=("html",)).get_content()
            page.set_content(html)
            page.add_script_tag(path=str(AXE))
            result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
            for violation in result["violations"]:
                if violation["impact"] in ("serious", "critical"):
                    targets = [n["target"] for n in violation["nodes"]][:3]
                    problems.append(f"{name} @{width}px: {violation['id']} ({violation['impact']}) {targets}")
            scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
            if scroll_width > width:
                problems.append(f"{name} @{width}px: wider than the screen ({scroll_width} px)")
        page.close()
    assert not problems, "\n".join(problems)
