"""Issue 11 point 12 in the Word reports: the target chart by district compares the districts sorted, the
largest first, and its Vietnamese names and figures are drawn in a font that has every letter (no empty boxes),
with figures in Vietnamese marks."""

from __future__ import annotations

import warnings
from datetime import date
from types import SimpleNamespace

from thidua.models.targets import Figure, Progress
from thidua.services.documents import _chart_png, chart_png
from thidua.services.reports import _target_charts
from thidua.services.targets import TargetReport, TargetRow

NAMES = ["Liên đoàn Lao động tỉnh Bình Định", "LĐLĐ huyện Thử Nghiệm 1", "Công đoàn ngành Y tế tỉnh"]


def test_the_chart_has_a_glyph_for_every_vietnamese_letter() -> None:
    _chart_png.cache_clear()  # drawn here, not taken from an earlier test's identical chart
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png, height = chart_png(NAMES, [1830.5, 4, 0], unit="sáng kiến", target=8000)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert not missing, missing[:3]
    assert png.startswith(b"\x89PNG") and height > 0


def row(name: str, value: float) -> TargetRow:
    figure = Figure(value, 1, 1, 1)
    return TargetRow(name, name, Progress(figure, 8000, 100 * value / 8000, False, None, None, ""))


def test_the_district_chart_is_sorted_largest_first() -> None:
    report = TargetReport(
        code="sang-kien-8000",
        title="Toàn tỉnh đạt 8.000 sáng kiến",
        rollup="sum",
        target=8000,
        unit_of_measure="sáng kiến",
        deadline=date(2023, 8, 31),
        at=date(2023, 10, 9),
        scope=[row("Toàn tỉnh", 43)],
        breakdown_level="cap_tren_truc_tiep",
        breakdown=[row("LĐLĐ huyện A", 4), row("LĐLĐ huyện B", 30), row("LĐLĐ huyện C", 9)],
    )
    (chart,) = _target_charts([report], SimpleNamespace(levels={}))
    assert chart.labels == ["LĐLĐ huyện B", "LĐLĐ huyện C", "LĐLĐ huyện A"]
    assert chart.values == [30, 9, 4]


def test_the_same_figures_give_the_same_picture_drawn_once() -> None:
    """Issue 17: the round and year-end reports often show the same target chart; it is drawn once per process,
    and a drawing is the same picture as a fresh one (the cache changes no document)."""
    _chart_png.cache_clear()
    first, height = chart_png(NAMES, [1830.5, 4, 0], unit="sáng kiến", target=8000)
    again = chart_png(list(NAMES), (1830.5, 4, 0), unit="sáng kiến", target=8000)
    assert again == (first, height) and _chart_png.cache_info().misses == 1
    _chart_png.cache_clear()
    assert chart_png(NAMES, [1830.5, 4, 0], unit="sáng kiến", target=8000)[0] == first  # redrawn: same bytes
    assert chart_png(NAMES, [1830.5, 4, 1], unit="sáng kiến", target=8000)[0] != first
    assert chart_png(NAMES, [1830.5, 4, 0], unit="sáng kiến", target=None)[0] != first
