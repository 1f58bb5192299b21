"""Form validation driven by the campaign file (Obligation.fields). Pure: no I/O.

Values arrive as typed Python values (JSON, YAML) or as text (spreadsheets, web forms): "12", "1.234",
"12,5", "có"/"không", "15/03/2023". `validate_form` returns JSON-ready clean values — int, float, str,
bool, dates as ISO "yyyy-mm-dd" — and every problem at once, each naming the field and the reason.
Fields whose `sectors` exclude the unit's sector are not asked: a value given for one is ignored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Mapping, Sequence

from thidua.models.clock import parse_date
from thidua.models.vnformat import fmt_date, fmt_number
from thidua.models.spec.campaign import FormField

NUMERIC_TYPES = ("integer", "decimal")
TRUE_WORDS = frozenset({"có", "co", "c", "x", "đúng", "dung", "đạt", "dat", "rồi", "roi", "yes", "y", "true", "1"})
FALSE_WORDS = frozenset({"không", "khong", "k", "ko", "sai", "chưa", "chua", "no", "n", "false", "0"})


@dataclass(frozen=True)
class FieldError:
    field: str  # field code, or "" for the form as a whole
    message: str  # Vietnamese reason, naming the value received
    label: str = ""

    def __str__(self) -> str:
        if not self.field:
            return self.message
        name = f"{self.label} [{self.field}]" if self.label else self.field
        return f"{name}: {self.message}"


class _Invalid(ValueError):
    """One value could not be read; the text is the user-facing reason."""


def applies_to(
    field: FormField, sector: str | None, *, level: str | None = None, attributes: Mapping[str, Any] | None = None
) -> bool:
    """A field is asked of a unit unless it names sectors the unit is not in. Units without a sector
    (most directly-superior unions) cover both sectors, so they are asked every field. A field limited to
    some levels, or to units with some attribute values (`where.attributes`), is asked only of those
    (when the caller knows the unit's level and attributes)."""
    if not (field.sectors is None or sector is None or sector in field.sectors):
        return False
    if field.levels is not None and level is not None and level not in field.levels:
        return False
    if field.where is not None and attributes is not None:
        return attributes_match(field.where.attributes, attributes)
    return True


def attributes_match(wanted: Mapping[str, Any], attributes: Mapping[str, Any]) -> bool:
    """Every wanted attribute holds one of its values (tags: any shared tag)."""
    for key, value in wanted.items():
        have = attributes.get(key)
        options = {fold(v) for v in (value if isinstance(value, list) else [value])}
        values = have if isinstance(have, list) else [have]
        if have is None or not options & {fold(v) for v in values}:
            return False
    return True


def applicable_fields(
    fields: Sequence[FormField],
    sector: str | None,
    *,
    level: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> list[FormField]:
    return [f for f in fields if applies_to(f, sector, level=level, attributes=attributes)]


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_form(
    fields: Sequence[FormField],
    raw: Mapping[str, Any],
    *,
    sector: str | None,
    allow_unknown: bool = False,
    level: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check and convert one filled-in form. Returns (clean values, errors); clean values hold only the
    fields that were asked and given. Unknown keys are errors unless `allow_unknown`."""
    known = {f.code for f in fields}
    errors: list[FieldError] = []
    if not allow_unknown:
        for key in raw:
            if key not in known:
                errors.append(FieldError(str(key), "không có trường này trong biểu mẫu"))
    clean: dict[str, Any] = {}
    for field in applicable_fields(fields, sector, level=level, attributes=attributes):
        value = raw.get(field.code)
        if is_blank(value):
            if field.required:
                errors.append(FieldError(field.code, "bắt buộc nhập nhưng đang để trống", field.label))
            continue
        try:
            clean[field.code] = convert_value(field, value)
        except _Invalid as exc:
            errors.append(FieldError(field.code, str(exc), field.label))
    return clean, errors


def convert_value(field: FormField, value: Any) -> Any:
    """One non-blank value -> its clean JSON-ready form, or _Invalid with the reason."""
    converter = _CONVERTERS[field.type]
    return converter(field, value)


def _show(value: Any) -> str:
    text = str(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


_GROUPED_THOUSANDS = re.compile(r"^[+-]?\d{1,3}([. ]\d{3})+$")


def _number_text(text: str) -> str:
    """Normalise Vietnamese and machine number spellings to Python's: '1.234.567' and '1 234' are
    grouped thousands, a comma is the decimal mark ('12,5'), and with both marks the last one is decimal."""
    text = text.strip().replace("\u00a0", " ")
    if _GROUPED_THOUSANDS.match(text) and (text.count(".") > 1 or " " in text):
        return text.replace(".", "").replace(" ", "")
    text = text.replace(" ", "")
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            return text.replace(".", "").replace(",", ".")
        return text.replace(",", "")
    if text.count(",") == 1:
        return text.replace(",", ".")
    return text


# Beyond this a number is not a count anyone reports, and it no longer fits the databases' integers or
# JSON's exact integers (2^53): refused instead of stored.
LARGEST_NUMBER = 10**15


def _check_range(field: FormField, number: float) -> None:
    if abs(number) > LARGEST_NUMBER:
        raise _Invalid(f"giá trị quá lớn (tối đa {fmt_number(LARGEST_NUMBER, 0)})")
    if field.min is not None and number < field.min:
        raise _Invalid(f"giá trị {fmt_number(number, 6)} nhỏ hơn mức tối thiểu {fmt_number(field.min, 6)}")
    if field.max is not None and number > field.max:
        raise _Invalid(f"giá trị {fmt_number(number, 6)} lớn hơn mức tối đa {fmt_number(field.max, 6)}")


def _to_integer(field: FormField, value: Any) -> int:
    if isinstance(value, bool):
        raise _Invalid(f"phải là số nguyên, nhận {_show(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, (float, Decimal)):
        if not float(value).is_integer():
            raise _Invalid(f"phải là số nguyên, nhận {_show(value)}")
        number = int(value)
    elif isinstance(value, str):
        # In an integer field '1.234' can only mean grouped thousands.
        text = value.strip()
        text = re.sub(r"[. ]", "", text) if _GROUPED_THOUSANDS.match(text) else _number_text(text)
        try:
            as_float = float(text)
        except ValueError:
            raise _Invalid(f"phải là số nguyên, nhận {_show(value)}") from None
        if not as_float.is_integer():
            raise _Invalid(f"phải là số nguyên, nhận {_show(value)}")
        number = int(as_float)
    else:
        raise _Invalid(f"phải là số nguyên, nhận {_show(value)}")
    _check_range(field, number)
    return number


def _to_decimal(field: FormField, value: Any) -> float:
    if isinstance(value, bool):
        raise _Invalid(f"phải là số, nhận {_show(value)}")
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(_number_text(value))
        except ValueError:
            raise _Invalid(f"phải là số (ví dụ 12 hoặc 12,5), nhận {_show(value)}") from None
    else:
        raise _Invalid(f"phải là số, nhận {_show(value)}")
    if number != number or number in (float("inf"), float("-inf")):
        raise _Invalid(f"phải là số, nhận {_show(value)}")
    _check_range(field, number)
    return number


def _to_text(field: FormField, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise _Invalid("phải là một đoạn chữ")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets hand over 12.0 for a typed 12
    if isinstance(value, (date, datetime)):
        value = fmt_date(value)
    text = str(value).strip()
    if field.max_length is not None and len(text) > field.max_length:
        raise _Invalid(f"dài {len(text)} ký tự, vượt mức tối đa {field.max_length} ký tự")
    return text


def fold(text: Any) -> str:
    """For matching what people type: Unicode NFC, single spaces, case-insensitive."""
    return unicodedata.normalize("NFC", " ".join(str(text).split())).casefold()


def _to_choice(field: FormField, value: Any) -> str:
    choices = field.choices or []
    wanted = fold(value)
    for choice in choices:
        if fold(choice) == wanted:
            return choice
    listed = "; ".join(f"'{c}'" for c in choices)
    raise _Invalid(f"giá trị {_show(value)} không thuộc danh sách cho phép: {listed}")


def _to_date(field: FormField, value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return parse_date(value).isoformat()
        except ValueError:
            pass
    raise _Invalid(f"phải là ngày dạng dd/mm/yyyy, nhận {_show(value)}")


def _to_bool(field: FormField, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = fold(value)
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise _Invalid(f"phải là 'có' hoặc 'không', nhận {_show(value)}")


def _to_file(field: FormField, value: Any) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"phải là tên hoặc đường dẫn tệp, nhận {_show(value)}")
    return _to_text(field, value)


_CONVERTERS = {
    "integer": _to_integer,
    "decimal": _to_decimal,
    "text": _to_text,
    "choice": _to_choice,
    "date": _to_date,
    "bool": _to_bool,
    "file": _to_file,
}


def format_value(field: FormField, value: Any) -> str:
    """A clean value as people read it: dd/mm/yyyy, 'có'/'không', Vietnamese number marks."""
    if value is None:
        return ""
    if field.type == "bool":
        return "có" if value else "không"
    if field.type == "date":
        return fmt_date(date.fromisoformat(value))
    if field.type in NUMERIC_TYPES:
        return fmt_number(value, 2)
    return str(value)
