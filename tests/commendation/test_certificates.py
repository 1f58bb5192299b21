"""Certificates: one PDF page per awardee on the configured stock, texts at their positions with Vietnamese
diacritics in an embedded font, batched per decision; nothing printed for a revoked decision."""

from __future__ import annotations

from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.commendation.conftest import person_at_province, use_catalogue
from tests.nominations.conftest import World
from thidua.models.nominations import InvalidNominationInput, NominationNotFound
from thidua.services.commendation import certificates, decisions

MM = 72 / 25.4


def _decided(world: World, names: list[tuple[str, str]]) -> decisions.IssuedDecision:
    ids = [person_at_province(world, name, cdcs=cdcs) for name, cdcs in names]
    return decisions.issue_decision(
        world.engine,
        world.campaign_id,
        world.actor("BDH"),
        decisions.DecisionInput(date(2023, 12, 20), "Nguyễn Văn Bình"),
        nomination_ids=ids,
        now=datetime(2023, 12, 20, 2, tzinfo=timezone.utc),
    )


def _placed(page) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    """Each text run with its position in mm from the top-left corner."""
    found: dict[str, tuple[float, float]] = {}
    height = float(page.mediabox.height)

    def visit(text, cm, tm, font, size) -> None:  # noqa: ANN001
        if text.strip():
            found[text.strip()] = (tm[4] / MM, (height - tm[5]) / MM)

    page.extract_text(visitor_text=visit)
    return found


def test_one_page_per_awardee_with_diacritics_at_the_configured_positions(world: World, tmp_path: Path) -> None:
    issued = _decided(
        world, [("Nguyễn Văn An", "BDH.D1.1"), ("Trần Thị Bình", "BDH.D2.1"), ("Đặng Thị Thu", "BDH.D1.2")]
    )
    out = certificates.write_certificates(world.engine, issued.id, tmp_path / "bang-khen.pdf")
    reader = PdfReader(str(out))
    assert len(reader.pages) == 3
    page = reader.pages[2]
    width, height = float(page.mediabox.width) / MM, float(page.mediabox.height) / MM
    assert (round(width), round(height)) == (297, 210)  # A4 landscape
    text = page.extract_text()
    assert "Ông/Bà Đặng Thị Thu" in text
    assert "BẰNG KHEN CỦA LIÊN ĐOÀN LAO ĐỘNG TỈNH (TOÀN DIỆN)" in text
    assert "Bình Định, ngày 20 tháng 12 năm 2023" in text and "Quyết định số 1/QĐ-LĐLĐ ngày 20/12/2023" in text
    used: set[str] = set()
    page.extract_text(
        visitor_text=lambda text, cm, tm, font, size: used.add(str(font["/BaseFont"])) if text.strip() else None
    )
    assert used == {"/AAAAAA+DejaVuSerif", "/AAAAAA+DejaVuSerif-Bold"}  # every text in the embedded DejaVu subset
    embedded = [f for f in page["/Resources"]["/Font"].values() if "DejaVu" in str(f["/BaseFont"])]
    assert all("/FontFile2" in f["/FontDescriptor"] for f in embedded)
    placed = _placed(page)
    x, y = placed["Quyết định số 1/QĐ-LĐLĐ ngày 20/12/2023"]  # left-aligned at (40 mm, 180 mm)
    assert abs(x - 40) < 0.5 and abs(y - 180) < 0.5


def test_a_form_with_its_own_stock_uses_its_positions(world: World, tmp_path: Path) -> None:
    use_catalogue(
        world,
        tmp_path,
        {
            '      - {kind: not_repeated, within_years: 1, title: "không khen cùng hình thức năm liền trước"}\n'
            "    bonus: {individual: 1.0, collective: 2.0}": '      - {kind: not_repeated, within_years: 1, title: "không khen cùng hình thức năm liền trước"}\n'
            "    certificate:\n      page: A4\n      orientation: portrait\n      fields:\n"
            "        ho_ten: {x_mm: 20, y_mm: 100, size: 20, align: left}\n    bonus: {individual: 1.0, collective: 2.0}"
        },
        count=1,
    )  # the first match is bang-khen-ldld-tinh
    issued = _decided(world, [("Nguyễn Văn An", "BDH.D1.1")])
    page = PdfReader(str(certificates.write_certificates(world.engine, issued.id, tmp_path / "a.pdf"))).pages[0]
    assert round(float(page.mediabox.width) / MM) == 210  # portrait
    x, y = _placed(page)["Ông/Bà Nguyễn Văn An"]
    assert abs(x - 20) < 0.5 and abs(y - 100) < 0.5
    assert "Quyết định số" not in page.extract_text()  # only the fields this stock declares


def test_single_certificate_and_none_for_a_revoked_decision(world: World, tmp_path: Path) -> None:
    issued = _decided(world, [("Nguyễn Văn An", "BDH.D1.1"), ("Trần Thị Bình", "BDH.D2.1")])
    one = certificates.certificate_of(world.engine, issued.nomination_ids[1], tmp_path / "binh.pdf")
    reader = PdfReader(str(one))
    assert len(reader.pages) == 1 and "Trần Thị Bình" in reader.pages[0].extract_text()
    decisions.revoke_decision(
        world.engine,
        issued.id,
        world.actor("BDH"),
        reason="Sai đối tượng",
        now=datetime(2023, 12, 21, 2, tzinfo=timezone.utc),
    )
    with pytest.raises(InvalidNominationInput, match="đã bị hủy"):
        certificates.write_certificates(world.engine, issued.id, tmp_path / "x.pdf")
    with pytest.raises(NominationNotFound):
        certificates.certificate_of(world.engine, issued.nomination_ids[0], tmp_path / "y.pdf")
