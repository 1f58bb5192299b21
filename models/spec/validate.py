"""Text of a declarative file -> validated spec, or SpecError listing every located problem."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, TypeVar

from pydantic import BaseModel, ValidationError

from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.yamlsource import SourceDoc, parse_yaml

if TYPE_CHECKING:
    from thidua.models.spec.campaign import CampaignSpec

M = TypeVar("M", bound=BaseModel)

# Pydantic's messages are English; users read Vietnamese.
_MESSAGES = {
    "missing": "thiếu trường bắt buộc",
    "extra_forbidden": "khóa không được phép (không có trong lược đồ)",
    "int_parsing": "phải là số nguyên",
    "int_type": "phải là số nguyên",
    "int_from_float": "phải là số nguyên",
    "float_parsing": "phải là số",
    "float_type": "phải là số",
    "bool_parsing": "phải là true/false",
    "bool_type": "phải là true/false",
    "string_type": "phải là chuỗi ký tự",
    "list_type": "phải là danh sách",
    "dict_type": "phải là một nhóm khóa: giá trị",
    "model_type": "phải là một nhóm khóa: giá trị",
    "date_type": "phải là ngày dạng dd/mm/yyyy",
    "date_parsing": "phải là ngày dạng dd/mm/yyyy",
    "date_from_datetime_parsing": "phải là ngày dạng dd/mm/yyyy",
    "string_pattern_mismatch": "giá trị không đúng dạng cho phép",
    "too_short": "danh sách không được rỗng",
    "greater_than_equal": "giá trị quá nhỏ",
    "less_than_equal": "giá trị quá lớn",
    "greater_than": "giá trị phải lớn hơn",
    "literal_error": "giá trị không thuộc danh sách cho phép",
    "value_error": "giá trị không hợp lệ",
    "string_too_long": "dài quá {max_length} ký tự",
    "string_too_short": "không được để trống (hoặc chỉ gồm dấu cách)",
    "too_long": "danh sách dài quá {max_length} phần tử",
    "date_from_datetime_inexact": "phải là ngày (không kèm giờ) dạng dd/mm/yyyy",
    "datetime_parsing": "phải là ngày giờ dạng dd/mm/yyyy HH:MM",
    "datetime_type": "phải là ngày giờ dạng dd/mm/yyyy HH:MM",
    "finite_number": "phải là một số hữu hạn (không dùng .inf/.nan)",
    "float_from_string": "phải là số",
    "int_from_string": "phải là số nguyên",
    "decimal_parsing": "phải là số",
    "string_unicode": "phải là chuỗi ký tự",
    "union_tag_invalid": "giá trị không thuộc danh sách cho phép",
    "enum": "giá trị không thuộc danh sách cho phép",
    "less_than": "giá trị phải nhỏ hơn",
    "url_parsing": "địa chỉ không hợp lệ",
    "is_instance_of": "kiểu giá trị không hợp lệ",
    "recursion_loop": "cấu trúc tham chiếu vòng lặp",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "value_error" and "email" in str(error.get("msg", "")):
        return f"địa chỉ e-mail không hợp lệ: '{error.get('input')}'"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    base = _MESSAGES.get(kind, "giá trị không hợp lệ")  # never pydantic's English
    if "{" in base:
        try:
            base = base.format(**ctx)
        except (KeyError, IndexError):
            base = base.split(" {")[0]
    if kind == "literal_error" and "expected" in ctx:
        return f"{base}: {ctx['expected']}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than") and ctx:
        limit = next(iter(ctx.values()))
        return f"{base} (giới hạn {limit})"
    if kind == "string_pattern_mismatch":
        return f"{base} (chữ thường không dấu, số, '_' hoặc '-'): '{error.get('input')}'"
    if kind == "extra_forbidden":
        return f"{base}"
    return base


def _clean_loc(loc: tuple[object, ...]) -> tuple[object, ...]:
    # Union branches show up as extra loc parts ('date', 'RelativeDue'); drop them.
    return tuple(
        p
        for p in loc
        if not (
            isinstance(p, str)
            and (
                p[:1].isupper() or p in ("date", "float", "int", "str") or p.startswith(("function-", "list[", "dict["))
            )
        )
    )


_SHAPE_ONLY = ("model_type", "dict_type", "model_attributes_type")


def problems_from_validation(doc: SourceDoc, exc: ValidationError) -> list[Problem]:
    seen: set[tuple[str, str]] = set()
    problems = []
    errors = exc.errors()
    # A union (a date or {round, days_after_end}) reports every branch; a "must be a mapping" beside a more
    # precise complaint about the same value is noise.
    precise = {_clean_loc(tuple(e["loc"])) for e in errors if e.get("type") not in _SHAPE_ONLY}
    for error in errors:
        if error.get("type") in _SHAPE_ONLY and _clean_loc(tuple(error["loc"])) in precise:
            continue
        loc = _clean_loc(tuple(error["loc"]))
        problem = doc.problem(loc, _message(error))
        key = (problem.field, problem.message)
        if key not in seen:  # union branches repeat the same complaint
            seen.add(key)
            problems.append(problem)
    return problems


def validate_doc(doc: SourceDoc, model: type[M]) -> M:
    if not isinstance(doc.data, dict):
        raise SpecError([Problem(doc.file, 1, "", "tệp phải là một nhóm khóa: giá trị ở cấp ngoài cùng")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(doc, exc)) from None


def validate_campaign_text(text: str, file: str) -> tuple[CampaignSpec, SourceDoc]:
    """Parse and validate a campaign file's text (no database needed)."""
    doc = parse_yaml(text, file)
    return validate_campaign_doc(doc), doc


def validate_campaign_doc(doc: SourceDoc) -> CampaignSpec:
    """Validate a parsed campaign file: the schema, then the consistency rules."""
    from thidua.models.spec.campaign import CampaignSpec, consistency_problems

    spec = validate_doc(doc, CampaignSpec)
    problems = [doc.problem(loc, message) for loc, message in consistency_problems(spec)]
    if problems:
        raise SpecError(problems)
    return spec
