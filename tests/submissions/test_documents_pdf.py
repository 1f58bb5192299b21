"""The Bình Định round and year-end reports (the real tree: 19 district unions, 1,200 CĐCS) as an office sees
them: DOCX and XLSX turned into PDF by LibreOffice, then into page pictures by pdftoppm. Every page is A4, no
picture or table runs past the printable area, the spreadsheets print every column on the page width with the
header row repeated, and the page counts stay within bounds (the round workbook printed as 194 pages before)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.submissions.conftest import vn
from thidua.db import create_schema, make_engine, session_scope
from thidua.services.campaigns import load_campaign
from thidua.services.units import import_units, load_levels
from thidua.settings import CONFIG_DIR
from thidua.unitgen import binh_dinh_cdcs, write_units_csv

pytestmark = pytest.mark.slow
CM = 72 / 2.54  # PDF points per centimetre


def page_sizes(pdf: Path) -> list[tuple[float, float]]:
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "100000", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    return [(float(w), float(h)) for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info)]


def ink_outside(pdf: Path, out: Path, *, right_cm: float, bottom_cm: float) -> list[str]:
    """Pages with something drawn in the right or bottom margin band (a picture or table running off the
    printable area), from 40 dpi renderings."""
    from PIL import Image

    prefix = out / pdf.stem
    subprocess.run(["pdftoppm", "-r", "40", "-gray", "-png", str(pdf), str(prefix)], check=True, timeout=300)
    problems = []
    for png in sorted(out.glob(f"{pdf.stem}-*.png")):
        image = Image.open(png).convert("L")
        width, height = image.size
        px_per_cm = 40 / 2.54
        right, bottom = int(width - right_cm * px_per_cm), int(height - bottom_cm * px_per_cm)
        pixels = image.load()
        dark = [(x, y) for x in range(right, width) for y in range(height) if pixels[x, y] < 128]
        dark += [(x, y) for x in range(width) for y in range(bottom, height) if pixels[x, y] < 128]
        if dark:
            problems.append(f"{png.name}: {len(dark)} dark pixels in the margin band")
    return problems


@pytest.fixture(scope="module")
def binh_dinh_pdfs(tmp_path_factory):  # noqa: ANN201
    missing = [tool for tool in ("soffice", "pdftoppm", "pdfinfo", "pdftotext") if shutil.which(tool) is None]
    if missing:
        reason = f"Thiếu {', '.join(missing)} (cài bằng: bash scripts/ensure-test-tools.sh): bỏ qua kiểm tra PDF"
        print(reason)
        pytest.skip(reason)
    from thidua.services.pdf import to_pdf
    from thidua.services.reports import build_final_report, build_round_report

    folder = tmp_path_factory.mktemp("bao-cao-pdf")
    engine = make_engine(f"sqlite:///{folder / 'thidua.db'}")
    create_schema(engine)
    load_levels(engine)
    import_units(engine, CONFIG_DIR / "units" / "binh_dinh.yaml")
    write_units_csv(binh_dinh_cdcs(), folder / "cdcs.csv")
    import_units(engine, folder / "cdcs.csv")
    load_campaign(engine, CONFIG_DIR / "campaigns" / "binh_dinh_2023.yaml")
    with session_scope(engine) as session:
        round_files = build_round_report(
            session, campaign_code="bd-2023", round_number=1, out_dir=folder, now=vn(20, 6)
        )
    with session_scope(engine) as session:
        final_files = build_final_report(session, campaign_code="bd-2023", out_dir=folder, now=vn(20, 12))
    engine.dispose()
    sources = [round_files.docx, final_files.docx, round_files.xlsx, final_files.xlsx]
    return dict(zip(("round_docx", "final_docx", "round_xlsx", "final_xlsx"), to_pdf(sources, folder / "pdf")))


@pytest.mark.parametrize(("name", "low", "high"), [("round_docx", 3, 40), ("final_docx", 3, 40)])
def test_word_reports_fit_the_page(binh_dinh_pdfs, tmp_path, name: str, low: int, high: int) -> None:  # noqa: ANN001
    pdf = binh_dinh_pdfs[name]
    sizes = page_sizes(pdf)
    assert low <= len(sizes) <= high, len(sizes)
    assert all(abs(w - 21 * CM) < 2 and abs(h - 29.7 * CM) < 2 for w, h in sizes)  # A4 portrait
    # Right margin 1.5 cm, bottom 2 cm: nothing may be drawn there (a cut chart or a too-wide table would be).
    assert ink_outside(pdf, tmp_path, right_cm=1.2, bottom_cm=1.6) == []
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Biểu đồ 1." in text and "Nơi nhận:" in text and "TM. BAN THƯỜNG VỤ" in text


# With no report sent, the "Chưa gửi - nộp muộn" sheet lists all 1,197 units (about 40 pages of the bound).
@pytest.mark.parametrize(("name", "high"), [("round_xlsx", 110), ("final_xlsx", 190)])
def test_workbooks_print_every_column_on_the_page_width(binh_dinh_pdfs, tmp_path, name: str, high: int) -> None:  # noqa: ANN001
    pdf = binh_dinh_pdfs[name]
    sizes = page_sizes(pdf)
    assert len(sizes) <= high, len(sizes)
    assert all({round(w / CM, 1), round(h / CM, 1)} == {21.0, 29.7} for w, h in sizes)  # A4, either way round
    assert ink_outside(pdf, tmp_path, right_cm=0.8, bottom_cm=0.6) == []
    for number in range(1, len(sizes) + 1):  # the header row is repeated on every page
        page = subprocess.run(
            ["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert ("STT" in page or "Mã chỉ tiêu" in page) and f"Trang {number}/{len(sizes)}" in page, (number, page[:200])
