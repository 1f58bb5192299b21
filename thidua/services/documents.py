"""Report documents from Word templates the office can edit (docxtpl), with the letterhead, number, signer and
recipients of config/documents/van-ban.yaml: defaults, then per issuing unit, then per campaign.

A template is an ordinary .docx with Jinja placeholders ({{ issuing_body }}, {%p for part in sections %} …);
the default one (bao-cao.docx) follows Nghị định 30/2020/NĐ-CP (see thidua/docx_template.py). Tables and
charts are built here and dropped into the template as sub-documents, one chart per figure, sized to the page.
"""

from __future__ import annotations

import io
import re
import textwrap
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from thidua.errors import InvalidInputError
from thidua.models.vnformat import fmt_document_date, fmt_number

SETTINGS_FILE = "documents/van-ban.yaml"
# What each key of van-ban.yaml sets (the office edits the file, so the keys are Vietnamese).
KEYS = {
    "mau": "template",
    "co_quan_chu_quan": "superior_body",
    "co_quan_ban_hanh": "issuing_body",
    "so_ky_hieu": "number",
    "dia_danh": "place",
    "quyen_han": "authority",
    "chuc_vu": "signer_title",
    "nguoi_ky": "signer_name",
    "ghi_chu_ky": "signature_note",
    "noi_nhan": "recipients",
}
SECTIONS = ("mac_dinh", "don_vi", "chien_dich")
# A4 with the decree's margins (30 mm left, 15 mm right, 20 mm top and bottom).
TEXT_WIDTH_CM = 16.5
TEXT_HEIGHT_CM = 25.7
CHART_WIDTH_CM = 16.0
CHART_MAX_HEIGHT_CM = 21.0  # leaves room for the caption and a heading on the same page
SERIF = ["Times New Roman", "Liberation Serif", "Tinos", "DejaVu Serif"]
# Every letter Vietnamese adds to Latin: a chart font must draw all of them (some Liberation Serif builds lack
# the stacked vowels such as 'ệ', 'ử', which came out as empty boxes).
VIETNAMESE_LETTERS = (
    "ĐđĂăÂâÊêÔôƠơƯưẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ"
)


class DocumentSettingsError(InvalidInputError):
    """van-ban.yaml or a template is unusable: says which file and which key."""


@dataclass
class DocumentSettings:
    template: str = "bao-cao.docx"
    superior_body: str = ""
    issuing_body: str = ""
    number: str = "      /BC-LĐLĐ"
    place: str = ""
    authority: str = "TM. BAN THƯỜNG VỤ"
    signer_title: str = "CHỦ TỊCH"
    signer_name: str = ""
    signature_note: str = ""
    recipients: list[str] = field(default_factory=list)


def load_document_settings(config_dir: Path, *, campaign_code: str, issuer_code: str) -> tuple[DocumentSettings, Path]:
    """The settings in force for one report, and the folder its template lives in."""
    path = config_dir / SETTINGS_FILE
    if not path.is_file():
        return DocumentSettings(), path.parent
    return _settings_in_force(path, _read_settings_file(path), campaign_code, issuer_code), path.parent


def check_document_settings_file(path: Path) -> list[str]:
    """The problems of a van-ban.yaml: every layer (the defaults, each issuing unit's, each campaign's, each over
    the defaults) and the Word template it leaves in force; each message starts with the file. A report's
    template comes from one of those layers, so checking them one by one covers every combination."""
    try:
        data = _read_settings_file(path)
    except DocumentSettingsError as exc:
        return [str(exc)]
    layers = [("", "")]
    layers += [(str(code), "") for code in data.get("don_vi") or {}]
    layers += [("", str(code)) for code in data.get("chien_dich") or {}]
    problems: list[str] = []
    for issuer, campaign in layers:
        try:
            settings = _settings_in_force(path, data, campaign, issuer)
        except DocumentSettingsError as exc:
            problem = str(exc)
        else:
            if (path.parent / settings.template).is_file():
                continue
            problem = f"{path}: không có mẫu Word '{settings.template}' trong {path.parent}"
        if problem not in problems:
            problems.append(problem)
    return problems


def _read_settings_file(path: Path) -> dict[str, Any]:
    from thidua.models.spec.yamlsource import parse_yaml

    doc = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    data = doc.data if isinstance(doc.data, dict) else {}
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise DocumentSettingsError(f"{path}: mục không dùng được: {', '.join(unknown)} (chỉ có {', '.join(SECTIONS)})")
    for section in ("don_vi", "chien_dich"):
        if not isinstance(data.get(section) or {}, dict):
            raise DocumentSettingsError(f"{path}: {section} phải là một nhóm khóa: giá trị (mã: các khóa của văn bản)")
    return data


def _settings_in_force(path: Path, data: dict[str, Any], campaign_code: str, issuer_code: str) -> DocumentSettings:
    """Defaults, then the issuing unit's layer, then the campaign's."""
    settings = DocumentSettings()
    layers = [
        ("mac_dinh", data.get("mac_dinh") or {}),
        (f"don_vi.{issuer_code}", (data.get("don_vi") or {}).get(issuer_code) or {}),
        (f"chien_dich.{campaign_code}", (data.get("chien_dich") or {}).get(campaign_code) or {}),
    ]
    for where, values in layers:
        if not isinstance(values, dict):
            raise DocumentSettingsError(f"{path}: {where} phải là một nhóm khóa: giá trị")
        for key, value in values.items():
            if key not in KEYS:
                raise DocumentSettingsError(f"{path}: {where}.{key}: khóa không dùng được (có: {', '.join(KEYS)})")
            if key == "noi_nhan":
                if not isinstance(value, list):
                    raise DocumentSettingsError(f"{path}: {where}.noi_nhan phải là danh sách các dòng")
                value = [str(v) for v in value]
            elif value is None:
                value = ""
            setattr(settings, KEYS[key], value if key == "noi_nhan" else str(value))
    return settings


# ---------------------------------------------------------------------------------------------------
# Tables and charts
# ---------------------------------------------------------------------------------------------------
def column_widths(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], total_cm: float = TEXT_WIDTH_CM, font_pt: float = 11
) -> list[float]:
    """Widths that follow the content and add up to `total_cm`: every column at least as wide as its longest
    word (no word broken across lines), numbers as wide as their longest value, names share the rest."""
    char_cm, pad_cm = 0.025 * font_pt, 0.45  # a wide bold Times character; the cell margins and some air
    minimum, wish, numeric = [], [], []
    for index, header in enumerate(headers):
        values = [row[index] for row in rows if index < len(row)]
        texts = [_cell_text(v, index, ()) for v in values]
        is_number = bool(values) and all(isinstance(v, (int, float)) or v in (None, "") for v in values)
        longest_word = max((len(w) for t in [header, *texts] for w in t.split()), default=3)
        longest_word = min(longest_word, 18)  # a longer "word" (a code, an address) may break
        minimum.append(longest_word * char_cm + pad_cm)
        typical = sorted(len(t) for t in texts)[int(len(texts) * 0.9)] if texts else len(header)
        wish.append(minimum[-1] if is_number else max(minimum[-1], min(typical, 45) * char_cm + pad_cm))
        numeric.append(is_number)
    if sum(minimum) >= total_cm:
        return [m * total_cm / sum(minimum) for m in minimum]
    fixed = sum(m for m, n in zip(minimum, numeric) if n)
    flexible = [w for w, n in zip(wish, numeric) if not n]
    room = total_cm - fixed
    if not flexible:
        return [m * total_cm / fixed for m in minimum]
    scale = room / sum(flexible)
    widths = [m if n else w * scale for m, w, n in zip(minimum, wish, numeric)]
    short = [i for i, (w, m) in enumerate(zip(widths, minimum)) if w < m]
    for i in short:  # a narrow text column keeps its longest word; the others give the difference back
        widths[i] = minimum[i]
    excess = sum(widths) - total_cm
    if excess > 0:
        donors = [i for i in range(len(widths)) if not numeric[i] and i not in short]
        pool = sum(widths[i] - minimum[i] for i in donors) or 1.0
        for i in donors:
            widths[i] -= excess * (widths[i] - minimum[i]) / pool
    return widths


def _cell_text(value: Any, column: int, percent_columns: Sequence[int]) -> str:
    if isinstance(value, bool):
        return "có" if value else "không"
    if isinstance(value, (int, float)):
        return fmt_number(value, 1 if column in percent_columns else 2)
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return "" if value is None else str(value)


def add_table(
    container: Any,
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,  # noqa: ANN401
    total: Sequence[Any] | None = None,
    percent_columns: Sequence[int] = (),
) -> Any:
    """A bordered table with content-sized columns, the header row repeated on each page, numbers right-aligned."""
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    body = [list(r) for r in rows] + ([list(total)] if total else [])
    points = 12 if len(headers) <= 5 else 11 if len(headers) <= 7 else 10 if len(headers) <= 9 else 9
    widths = column_widths(headers, body, font_pt=points)
    size = Pt(points)
    table = container.add_table(rows=1 + len(body), cols=len(headers))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    layout = OxmlElement("w:tblLayout")
    layout.set(qn("w:type"), "fixed")
    table._tbl.tblPr.append(layout)
    for column, width in zip(table.columns, widths):
        column.width = Cm(width)
    header_props = table.rows[0]._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    header_props.append(repeat)
    for row_index, row in enumerate(table.rows):
        values = headers if row_index == 0 else body[row_index - 1]
        is_total = total is not None and row_index == len(body)
        row._tr.get_or_add_trPr().append(OxmlElement("w:cantSplit"))
        for column, (cell, value) in enumerate(zip(row.cells, values)):
            cell.width = Cm(widths[column])
            paragraph = cell.paragraphs[0]
            run = paragraph.add_run(str(value) if row_index == 0 else _cell_text(value, column, percent_columns))
            run.font.size = size
            run.bold = row_index == 0 or is_total
            if row_index == 0:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    return table


@lru_cache(maxsize=1)
def chart_fonts() -> tuple[str, ...]:
    """The families of SERIF installed here that draw every Vietnamese letter, preferred first; the DejaVu Serif
    shipped in config/fonts is registered so that one always does."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    from thidua.settings import CONFIG_DIR

    bundled = CONFIG_DIR / "fonts" / "DejaVuSerif.ttf"
    if bundled.exists():
        font_manager.fontManager.addfont(str(bundled))
    usable = []
    for family in SERIF:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        charmap = FT2Font(path).get_charmap()
        if all(ord(letter) in charmap for letter in VIETNAMESE_LETTERS):
            usable.append(family)
    return tuple(usable) or ("DejaVu Serif",)


def chart_png(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str,
    target: float | None = None,
    width_cm: float = CHART_WIDTH_CM,
) -> tuple[bytes, float]:
    """One horizontal bar chart (serif font, no title: the caption under it carries the whole title).
    Returns the PNG and its height in cm, at most CHART_MAX_HEIGHT_CM. The same figures give the same
    picture: drawn once per process (the round and year-end reports often show the same target charts)."""
    return _chart_png(tuple(labels), tuple(values), unit, target, width_cm)


@lru_cache(maxsize=32)
def _chart_png(
    labels: tuple[str, ...], values: tuple[float, ...], unit: str, target: float | None, width_cm: float
) -> tuple[bytes, float]:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    wrapped = [
        textwrap.fill(label, 28, break_long_words=False, break_on_hyphens=False) for label in labels
    ]  # whole words
    lines = sum(max(1, w.count("\n") + 1) for w in wrapped)
    height_cm = min(CHART_MAX_HEIGHT_CM, max(5.0, 0.42 * lines + 0.35 * len(labels) + 2.2))
    from matplotlib.ticker import FuncFormatter

    with rc_context({"font.family": "serif", "font.serif": list(chart_fonts()), "font.size": 10}):
        fig = Figure(figsize=(width_cm / 2.54, height_cm / 2.54), dpi=200)
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        positions = list(range(len(labels)))
        bars = ax.barh(positions, values, color="#2f6db5")
        ax.set_yticks(positions, labels=wrapped, fontsize=9 if len(labels) > 12 else 10)
        ax.invert_yaxis()
        for bar, value in zip(bars, values):
            ax.text(
                bar.get_width(), bar.get_y() + bar.get_height() / 2, " " + fmt_number(value), va="center", fontsize=9
            )
        if target is not None:
            ax.axvline(
                target,
                color="#c0392b",
                linestyle="--",
                linewidth=1,
                label=f"Chỉ tiêu: {fmt_number(target)} {unit}".strip(),
            )
            ax.legend(loc="lower right", fontsize=9)
        ax.set_xlabel(unit)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: fmt_number(x)))  # 2.000, 12,5: Vietnamese marks
        ax.margins(x=0.15)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    return buffer.getvalue(), height_cm


def render_report(content: Any, path: Path, *, config_dir: Path) -> Path:  # noqa: ANN401
    """Fill the report template with `content` (a reports.ReportContent) and save it to `path`."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm, Pt
    from docxtpl import DocxTemplate

    settings, folder = load_document_settings(
        config_dir, campaign_code=content.campaign_code, issuer_code=content.issuer_code
    )
    template_path = folder / settings.template
    if not template_path.is_file():
        raise DocumentSettingsError(
            f"{folder / 'van-ban.yaml'}: không có mẫu Word '{settings.template}' trong {folder}"
        )
    template = DocxTemplate(str(template_path))
    figure = 0
    sections = []
    for part in content.sections:
        sub = template.new_subdoc()
        for table in part.tables:
            caption = sub.add_paragraph()
            run = caption.add_run(table.caption or table.title)
            run.italic, run.font.size = True, Pt(12)
            caption.paragraph_format.keep_with_next = True
            caption.paragraph_format.space_before = Pt(6)
            add_table(sub, table.headers, table.rows, total=table.total, percent_columns=table.percent_columns)
        for chart in part.charts:
            figure += 1
            png, _ = chart_png(chart.labels, chart.values, unit=chart.unit, target=chart.target)
            picture = sub.add_paragraph()
            picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
            picture.paragraph_format.keep_with_next = True
            picture.paragraph_format.space_before = Pt(6)
            picture.add_run().add_picture(io.BytesIO(png), width=Cm(CHART_WIDTH_CM))
            caption = sub.add_paragraph()
            caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = caption.add_run(f"Biểu đồ {figure}. {chart.title}")
            run.italic, run.font.size = True, Pt(12)
        sections.append({"heading": part.heading, "paragraphs": part.paragraphs, "content": sub})
    place = settings.place or content.place
    day = content.report_date
    context = {
        "superior_body": settings.superior_body or content.issuing_lines[0],
        "issuing_body": settings.issuing_body or content.issuing_lines[1],
        "number": settings.number,
        "place_and_date": fmt_document_date(day, place) if day else f"{place}, ngày    tháng    năm {content.year}",
        "document_type": content.title,
        "summary": content.subtitle,
        "intro": content.intro,
        "sections": sections,
        "recipients": settings.recipients or content.recipients,
        "authority": settings.authority,
        "signer_title": settings.signer_title,
        "signature_note": settings.signature_note,
        "signer_name": settings.signer_name,
    }
    template.render(context, autoescape=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    template.save(str(path))
    return path


def placeholders(path: Path) -> set[str]:
    """The {{ name }} placeholders of a template (a check for offices editing it)."""
    from docx import Document

    document = Document(str(path))
    texts = [p.text for p in document.paragraphs]
    texts += [p.text for t in document.tables for row in t.rows for cell in row.cells for p in cell.paragraphs]
    return {m for text in texts for m in re.findall(r"\{\{p?\s*([\w.]+)\s*\}\}", text)}
