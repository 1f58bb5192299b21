"""DOCX templates the office edits in Word: `{{field}}` in any paragraph (body, tables, header, footer) is
replaced; a table row holding `{{stt}}` is repeated once per list item (danh sách kèm theo). A paragraph that
holds a placeholder keeps the formatting of its first run (Word may split `{{…}}` over several runs)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from thidua.errors import InvalidInputError

PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
ROW_MARK = "{{stt}}"


class TemplateError(InvalidInputError):
    """The template cannot be read or names a field the document does not have (message in Vietnamese)."""


def _fill_paragraph(paragraph, values: Mapping[str, Any], unknown: set[str]) -> None:  # noqa: ANN001
    text = paragraph.text
    if "{{" not in text:
        return

    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            unknown.add(key)
            return match.group(0)
        return str(values[key])

    new_text = PLACEHOLDER.sub(sub, text)
    runs = paragraph.runs
    if not runs:
        return
    runs[0].text = new_text
    for run in runs[1:]:
        run.text = ""


def _paragraphs(container) -> Iterable:  # noqa: ANN001
    yield from container.paragraphs
    for table in container.tables:
        for row in table.rows:
            for cell in row.cells:
                yield from _paragraphs(cell)


def _expand_rows(document, rows: Sequence[Mapping[str, Any]], unknown: set[str]) -> bool:  # noqa: ANN001
    """Repeat the row that holds {{stt}} for each item. True when the template has such a row."""
    found = False
    for table in document.tables:
        for row in list(table.rows):
            if not any(ROW_MARK in cell.text for cell in row.cells):
                continue
            found = True
            template = row._tr
            for item in rows:
                clone = copy.deepcopy(template)
                template.addprevious(clone)
                from docx.table import _Row

                new_row = _Row(clone, table)
                for cell in new_row.cells:
                    for paragraph in _paragraphs(cell):
                        _fill_paragraph(paragraph, item, unknown)
            template.getparent().remove(template)
    return found


def render_docx(template: Path, out: Path, values: Mapping[str, Any], rows: Sequence[Mapping[str, Any]] = ()) -> Path:
    """Fill `template` into `out`. Unknown placeholders are an error naming them and the template file."""
    from docx import Document

    try:
        document = Document(str(template))
    except Exception as exc:  # python-docx raises several kinds for a damaged or non-DOCX file
        raise TemplateError(f"Không đọc được mẫu văn bản {template}: {exc}") from None
    unknown: set[str] = set()
    has_rows = _expand_rows(document, rows, unknown)
    if rows and not has_rows:
        raise TemplateError(f"Mẫu {template.name} không có dòng bảng chứa {ROW_MARK} cho danh sách kèm theo")
    for paragraph in _paragraphs(document):
        _fill_paragraph(paragraph, values, unknown)
    for section in document.sections:
        for part in (section.header, section.footer):
            for paragraph in _paragraphs(part):
                _fill_paragraph(paragraph, values, unknown)
    if unknown:
        raise TemplateError(
            f"Mẫu {template.name} có trường không biết: {', '.join('{{' + k + '}}' for k in sorted(unknown))}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(out))
    return out


def docx_text(path: Path) -> str:
    """All text of a DOCX (paragraphs and tables), one paragraph a line: for checks and tests."""
    from docx import Document

    document = Document(str(path))
    return "\n".join(p.text for p in _paragraphs(document))
