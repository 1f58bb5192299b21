"""How offices and federations are named in documents and mail headers (pure)."""

from __future__ import annotations

import re
from functools import lru_cache


def short_body_name(name: str) -> str:
    """'Liên đoàn Lao động tỉnh Bình Định' -> 'LĐLĐ TỈNH BÌNH ĐỊNH' (how union documents head)."""
    short = re.sub(r"(?i)^liên đoàn lao động", "LĐLĐ", name.strip())
    short = re.sub(r"(?i)^tổng liên đoàn lao động", "Tổng LĐLĐ", short)
    return short.upper()


def department_abbreviation(department: str) -> str:
    """'Ban Chính sách pháp luật và Quan hệ lao động' -> 'BAN CSPL&QHLĐ'; short names stay whole."""
    words = department.split()
    if not words or words[0].casefold() != "ban" or len(words) < 5:
        return department.upper()
    parts = re.split(r"\s+(?:và|&)\s+", " ".join(words[1:]))
    return "BAN " + "&".join("".join(w[0] for w in part.split()).upper() for part in parts)


def place_name(name: str) -> str:
    """The place in the date line: 'Liên đoàn Lao động tỉnh Bình Định' -> 'Bình Định'."""
    match = re.search(r"(?i)(?:tỉnh|thành phố)\s+(.+)$", name)
    return match.group(1).strip() if match else name


def body_name(name: str) -> str:
    """'Liên đoàn Lao động tỉnh Bình Định' -> 'LĐLĐ tỉnh Bình Định' (in running text and mail headers)."""
    return re.sub(r"(?i)^liên đoàn lao động", "LĐLĐ", name.strip())


@lru_cache(maxsize=1024)  # pure, and asked for every mail a campaign sends
def office_display_name(department: str, federation: str) -> str:
    """The sender's name in mail: 'Ban CSPL&QHLĐ – LĐLĐ tỉnh Bình Định' (which office, which federation)."""
    short_department = department_abbreviation(department).replace("BAN ", "Ban ", 1) if department else ""
    parts = [p for p in (short_department, body_name(federation) if federation else "") if p]
    return " – ".join(parts)
