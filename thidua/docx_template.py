"""The default Word template of reports (config/documents/bao-cao.docx), laid out to Nghị định 30/2020/NĐ-CP.

The office edits the .docx in Word (letterhead, fonts, wording around the placeholders); the engine fills it
with docxtpl (Jinja tags in the text). This module only (re)builds the default file:
`python -m thidua.docx_template config/documents/bao-cao.docx`.

Layout (Phụ lục I of the decree): A4, margins 20 mm top/bottom, 30 mm left, 15 mm right; Times New Roman; the
superior body (upper case) and the issuing body (upper case, bold) top left with a short rule under it; the
national name (upper case, bold, 12–13 pt) and motto (bold, 13–14 pt) top right, the motto ruled as long as
itself; number and symbol under the issuer; place and date (italic) under the motto; document type and
summary (bold, centred) with a short rule; body 14 pt justified with a first-line indent; "Nơi nhận" (bold
italic 12 pt, items 11 pt) and the signature block (authority, title, name; bold upper case); page numbers
centred at the top from page 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

BODY_PT = 14


def build_default_template(path: Path) -> Path:
    from docx import Document
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    document = Document()
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    section.left_margin, section.right_margin = Cm(3), Cm(1.5)
    section.header_distance = Cm(1)
    styles = document.styles
    normal = styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(BODY_PT)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "Times New Roman")
    normal.paragraph_format.space_after = Pt(0)
    normal.paragraph_format.space_before = Pt(0)
    for name in ("Table Grid",):
        styles[name].font.name = "Times New Roman"

    def para(
        container,
        text: str = "",
        *,
        bold: bool = False,
        italic: bool = False,
        size: float | None = None,
        align=WD_ALIGN_PARAGRAPH.CENTER,
        first: bool = False,
        before: float = 0,
        after: float = 0,
    ):  # noqa: ANN001, ANN202
        paragraph = container.paragraphs[0] if first else container.add_paragraph()
        if text:
            run = paragraph.add_run(text)
            run.bold, run.italic = bold, italic
            if size:
                run.font.size = Pt(size)
        paragraph.alignment = align
        paragraph.paragraph_format.space_before = Pt(before)
        paragraph.paragraph_format.space_after = Pt(after)
        return paragraph

    def rule(container, width_cm: float, cell_cm: float):  # noqa: ANN001, ANN202
        """A centred horizontal rule `width_cm` long: an empty paragraph with a top border, indented."""
        paragraph = container.add_paragraph()
        side = Cm(max(0.0, (cell_cm - width_cm) / 2))
        paragraph.paragraph_format.left_indent = paragraph.paragraph_format.right_indent = side
        paragraph.paragraph_format.space_after = Pt(0)
        p_pr = paragraph._p.get_or_add_pPr()
        borders = OxmlElement("w:pBdr")
        top = OxmlElement("w:top")
        for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
            top.set(qn(key), value)
        borders.append(top)
        p_pr.append(borders)
        run = paragraph.add_run()
        run.font.size = Pt(2)
        return paragraph

    def fixed_table(rows: int, widths_cm: tuple[float, ...]):  # noqa: ANN202
        table = document.add_table(rows=rows, cols=len(widths_cm))
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        table.autofit = False
        layout = OxmlElement("w:tblLayout")
        layout.set(qn("w:type"), "fixed")
        table._tbl.tblPr.append(layout)
        for column, width in zip(table.columns, widths_cm):
            column.width = Cm(width)
            for cell in column.cells:
                cell.width = Cm(width)
        return table

    # Letterhead: issuer left (6.5 cm), national name and motto right (10 cm).
    left_cm, right_cm = 6.0, 10.5
    head = fixed_table(2, (left_cm, right_cm))
    left, right = head.rows[0].cells
    para(left, "{{ superior_body }}", size=12, first=True)
    para(left, "{{ issuing_body }}", bold=True, size=12)
    rule(left, 2.5, left_cm)
    para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", bold=True, size=12, first=True)
    para(right, "Độc lập - Tự do - Hạnh phúc", bold=True, size=14)
    rule(right, 6.2, right_cm)
    number, date_line = head.rows[1].cells
    para(number, "Số: {{ number }}", size=13, first=True, before=4)
    para(date_line, "{{ place_and_date }}", italic=True, size=14, first=True, before=4)

    # Document type and summary.
    para(document, "{{ document_type }}", bold=True, size=14, before=18)
    para(document, "{{ summary }}", bold=True, size=14)
    rule(document, 4.0, 16.5)

    body = WD_ALIGN_PARAGRAPH.JUSTIFY

    def body_paragraph(text: str):  # noqa: ANN202
        paragraph = para(document, text, align=body, after=6)
        paragraph.paragraph_format.first_line_indent = Cm(1.27)
        paragraph.paragraph_format.line_spacing = 1.15
        return paragraph

    body_paragraph("{{ intro }}")
    para(document, "{%p for part in sections %}", align=body)
    heading = para(document, "{{ part.heading }}", bold=True, align=body, before=6, after=6)
    heading.paragraph_format.keep_with_next = True
    para(document, "{%p for text in part.paragraphs %}", align=body)
    body_paragraph("{{ text }}")
    para(document, "{%p endfor %}", align=body)
    para(document, "{{p part.content }}", align=body)
    para(document, "{%p endfor %}", align=body)

    # Recipients (left 7 cm) and signature (right 9.5 cm), kept together.
    closing = fixed_table(1, (7.0, 9.5))
    recipients, signer = closing.rows[0].cells
    title = para(
        recipients, "Nơi nhận:", bold=True, italic=True, size=12, align=WD_ALIGN_PARAGRAPH.LEFT, first=True, before=12
    )
    title.paragraph_format.keep_with_next = True
    para(recipients, "{%p for line in recipients %}", size=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    para(recipients, "{{ line }}", size=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    para(recipients, "{%p endfor %}", size=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    para(signer, "{{ authority }}", bold=True, size=14, first=True, before=12)
    para(signer, "{{ signer_title }}", bold=True, size=14)
    para(signer, "{{ signature_note }}", italic=True, size=13)
    for _ in range(3):
        para(signer, "", size=14)
    para(signer, "{{ signer_name }}", bold=True, size=14)
    for row in closing.rows:
        tr_pr = row._tr.get_or_add_trPr()
        cant_split = OxmlElement("w:cantSplit")
        tr_pr.append(cant_split)

    # Page numbers: centred at the top, not on the first page.
    section.different_first_page_header_footer = True
    header = section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = header.add_run()
    run.font.size = Pt(13)
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind:
            field = OxmlElement("w:fldChar")
            field.set(qn("w:fldCharType"), kind)
            run._r.append(field)
        else:
            instruction = OxmlElement("w:instrText")
            instruction.set(qn("xml:space"), "preserve")
            instruction.text = text
            run._r.append(instruction)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


if __name__ == "__main__":
    build_default_template(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("config/documents/bao-cao.docx"))
