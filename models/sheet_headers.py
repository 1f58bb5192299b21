"""The header row of an imported spreadsheet (unit lists, reorganisation plans): one rule for matching column titles
to fields, so every import refuses an unknown, duplicated or missing column with the same located message.

A column's title matches any of its aliases (the ascii code or the Vietnamese label), ignoring case, Unicode
normalisation form and repeated spaces."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from thidua.models.spec.problems import Problem


def header_key(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold().replace(" / ", "/")
    return " ".join(text.split())


def alias_index(columns: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """header key of every alias -> field name."""
    return {header_key(alias): name for name, aliases in columns.items() for alias in aliases}


def accepted_titles(columns: Mapping[str, Sequence[str]]) -> str:
    """'dùng: Mã đơn vị / ma_don_vi, …' for the message about an unknown column."""
    return "dùng: " + ", ".join(f"{aliases[1]} / {aliases[0]}" for aliases in columns.values())


@dataclass
class HeaderMap:
    columns: dict[int, str] = field(default_factory=dict)  # column index -> field name
    labels: dict[str, str] = field(default_factory=dict)  # field name -> the title the file used
    problems: list[Problem] = field(default_factory=list)


def map_header(
    cells: Sequence[Any],
    file: str,
    columns: Mapping[str, Sequence[str]],
    required: Sequence[str],
    extra: Callable[[str], str | None] | None = None,
    line: int = 1,
) -> HeaderMap:
    """Read the header row (`line`: its row number, 1 unless the sheet starts lower). `columns`: field -> (ascii
    code, Vietnamese label, other aliases…); `extra` names fields the table does not declare (e.g. unit attributes) from a title's key."""
    index = alias_index(columns)
    found = HeaderMap()
    for position, cell in enumerate(cells):
        title = "" if cell is None else str(cell).strip()
        if not title:
            continue
        key = header_key(title)
        name = index.get(key) or (extra(key) if extra else None)
        if name is None:
            found.problems.append(Problem(file, line, title, f"cột không được hỗ trợ ({accepted_titles(columns)})"))
        elif name in found.labels:
            found.problems.append(Problem(file, line, title, f"cột trùng với cột '{found.labels[name]}'"))
        else:
            found.columns[position] = name
            found.labels[name] = title
    for name in required:
        if name not in found.labels:
            code, label = columns[name][0], columns[name][1]
            found.problems.append(Problem(file, line, code, f"thiếu cột '{label}' ({code})"))
    return found
