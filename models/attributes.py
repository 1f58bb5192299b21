"""Unit attributes (pure): typed facts about a unit declared in config/unit_attributes.yaml (ownership,
eligibility flags, tags…), imported from the same spreadsheets as the units, and used by campaign files to
select units (`where:`) and to break figures down."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from thidua.models.clock import parse_date
from thidua.models.sheet_headers import header_key
from thidua.models.spec.common import Code, Strict

AttributeType = Literal["text", "integer", "decimal", "bool", "choice", "date", "tags"]
_TRUE = {"có", "co", "x", "1", "true", "yes", "đúng", "dung"}
_FALSE = {"không", "khong", "0", "false", "no", "sai"}


class AttributeSpec(Strict):
    code: Code
    label: str
    type: AttributeType
    choices: list[str] | None = None
    columns: list[str] = Field(default_factory=list)  # other spreadsheet headers that mean this attribute
    help: str = ""

    @model_validator(mode="after")
    def _coherent(self) -> "AttributeSpec":
        if self.type == "choice" and not self.choices:
            raise ValueError("thuộc tính kiểu 'choice' cần danh sách 'choices'")
        if self.type != "choice" and self.choices:
            raise ValueError("'choices' chỉ dùng cho thuộc tính kiểu 'choice'")
        return self


class AttributeSchema(Strict):
    """config/unit_attributes.yaml"""

    attributes: list[AttributeSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> "AttributeSchema":
        codes = [a.code for a in self.attributes]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"mã thuộc tính bị trùng: {', '.join(dupes)}")
        return self

    def by_code(self) -> dict[str, AttributeSpec]:
        return {a.code: a for a in self.attributes}

    def headers(self) -> dict[str, str]:
        """Spreadsheet header key (folded) -> attribute code: the code, the label and any extra column names."""
        out: dict[str, str] = {}
        for a in self.attributes:
            for word in (a.label, *a.columns, a.code):
                out[header_key(word)] = a.code
        return out


def parse_attribute(spec: AttributeSpec, value: Any) -> Any:
    """The typed value of one cell (None: empty, which clears the attribute); ValueError in Vietnamese."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = (
        unicodedata.normalize("NFC", str(value)).strip()
        if not isinstance(value, (list, bool, int, float, date))
        else value
    )
    kind = spec.type
    if kind == "text":
        return str(text)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        key = header_key(str(text))
        if key in _TRUE:
            return True
        if key in _FALSE:
            return False
        raise ValueError(f"'{spec.label}' phải là có/không: '{text}'")
    if kind == "integer":
        try:
            number = float(text)  # type: ignore[arg-type]  # a wrong type is the ValueError below
        except (TypeError, ValueError):
            raise ValueError(f"'{spec.label}' phải là số nguyên: '{text}'") from None
        if not number.is_integer():
            raise ValueError(f"'{spec.label}' phải là số nguyên: '{text}'")
        return int(number)
    if kind == "decimal":
        try:
            return float(str(text).replace(",", ".")) if isinstance(text, str) else float(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"'{spec.label}' phải là số: '{text}'") from None
    if kind == "date":
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        try:
            return parse_date(str(text)).isoformat()
        except ValueError:
            raise ValueError(f"'{spec.label}' phải là ngày dd/mm/yyyy: '{text}'") from None
    if kind == "choice":
        assert spec.choices is not None
        wanted = header_key(str(text))
        for choice in spec.choices:
            if header_key(choice) == wanted:
                return choice
        raise ValueError(f"'{spec.label}' không thuộc danh sách cho phép ({', '.join(spec.choices)}): '{text}'")
    # tags: a list, or one cell with ';' or ',' between tags
    items = value if isinstance(value, list) else str(text).replace(",", ";").split(";")
    tags = sorted({unicodedata.normalize("NFC", str(t)).strip() for t in items if str(t).strip()})
    return tags or None


def merged_attributes(stored: dict[str, Any] | None, given: dict[str, Any] | None) -> dict[str, Any]:
    """Attributes after an import: the file's values over the stored ones; an empty cell (None) clears one."""
    out = dict(stored or {})
    for key, value in (given or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
