"""YAML text -> plain Python data plus the line of every key and list item (ruamel keeps positions)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import ScalarEvent
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from thidua.models.spec.problems import Problem, SpecError

try:  # libyaml through ruamel.yaml.clib (a dependency of ruamel.yaml on CPython): the fast path of parse_yaml
    from ruamel.yaml.cyaml import CParser
    from ruamel.yaml.resolver import VersionedResolver

    class _CLoader(CParser, VersionedResolver):  # type: ignore[misc]
        """libyaml's composer with ruamel's YAML 1.2 resolver (the round-trip reader's)."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            VersionedResolver.__init__(self, loader=self)

except ImportError:  # pragma: no cover  (pure-Python installs: parse_yaml reads everything the slower way)
    _CLoader = None  # type: ignore[assignment, misc]

Loc = tuple[object, ...]


@dataclass
class SourceDoc:
    file: str
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest known prefix of loc (pydantic locs may go deeper than the YAML)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), 1)

    def problem(self, loc: Loc, message: str) -> Problem:
        from thidua.models.spec.problems import field_path

        return Problem(self.file, self.line_of(loc), field_path(loc), message)


def _plain(node: Any, loc: Loc, lines: dict[Loc, int], budget: "_Budget") -> Any:
    budget.left -= 1
    if budget.left < 0:
        line = lines.get(loc) or lines.get(loc[:-1]) or 1
        raise SpecError([Problem("", line, "", "")])  # located and worded by parse_yaml
    tag = getattr(getattr(node, "tag", None), "value", None)
    if tag and str(tag) not in _PLAIN_TAGS:
        line = lines.get(loc) or lines.get(loc[:-1]) or 1
        raise SpecError(
            [
                Problem(
                    "",
                    line,
                    _field(loc),
                    f"thẻ YAML '{tag or getattr(node, 'tag', '')}' không được dùng "
                    "trong tệp khai báo (chỉ dùng giá trị thường)",
                )
            ]
        )
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            try:
                line = node.lc.key(key)[0] + 1
            except (KeyError, TypeError, AttributeError):
                line = node.lc.line + 1
            lines[loc + (str(key),)] = line
            out[str(key)] = _plain(value, loc + (str(key),), lines, budget)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for index, value in enumerate(node):
            try:
                lines[loc + (index,)] = node.lc.item(index)[0] + 1
            except (KeyError, TypeError, AttributeError):
                lines[loc + (index,)] = node.lc.line + 1
            out_list.append(_plain(value, loc + (index,), lines, budget))
        return out_list
    if isinstance(node, datetime):
        return node
    if isinstance(node, date):
        return node
    if node is None or isinstance(node, (bool, int, float)):
        return node
    return str(node)


# Hostile files (issue 10): an alias bomb ("billion laughs") expands a 2 KB file into gigabytes when every
# reference is copied; deep nesting exhausts the stack. Both are refused with the line, before any work.
MAX_DEPTH = 64
MAX_EXPANSION = 20  # expanded nodes may be at most this many times the nodes written (plus a little slack)
EXPANSION_SLACK = 10_000

# ruamel's messages, in Vietnamese (the rest keep ruamel's wording after a Vietnamese lead).
_YAML_REASONS = {
    "found unexpected end of stream": "hết tệp mà dấu nháy mở ở đây chưa được đóng",
    "mapping values are not allowed here": "dấu ':' không được phép ở đây (thiếu dấu nháy quanh giá trị, hoặc thụt lề sai)",
    "could not find expected ':'": "thiếu dấu ':' sau khóa",
    "found character '\\t' that cannot start any token": "không dùng ký tự tab để thụt lề (dùng dấu cách)",
    "found duplicate key": "khóa bị lặp",
    "found undefined alias": "tham chiếu (alias) chưa được định nghĩa",
    "expected <block end>, but found": "thụt lề không khớp với các dòng phía trên",
    "did not find expected key": "thụt lề không khớp hoặc thiếu dấu '-' của phần tử danh sách",
    "did not find expected node content": "thiếu giá trị",
    "found unknown escape character": "ký tự thoát (\\\\) không hợp lệ trong chuỗi",
}
_VALUE_REASONS = {
    "day is out of range for month": "ngày không tồn tại trong tháng",
    "month must be in 1..12": "tháng phải từ 1 đến 12",
    "year": "năm không hợp lệ",
    "hour must be in 0..23": "giờ phải từ 0 đến 23",
    "minute must be in 0..59": "phút phải từ 0 đến 59",
    "second must be in 0..59": "giây phải từ 0 đến 59",
    "invalid literal for int()": "không phải số nguyên hợp lệ",
    "could not convert string to float": "không phải số hợp lệ",
    "string index out of range": "không phải số hợp lệ (tiền tố 0b/0o/0x mà không có chữ số)",
}
_UNREADABLE_VALUE = "không đọc được giá trị này (số, ngày hoặc giờ viết sai dạng)"


_PLAIN_TAGS = {
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


def _field(loc: Loc) -> str:
    from thidua.models.spec.problems import field_path

    return field_path(loc)


class _Budget:
    def __init__(self, limit: int):
        self.left = limit


def _written_nodes(node: Any, seen: set[int]) -> int:
    """Nodes as written in the file: a shared (aliased) container is counted once."""
    if isinstance(node, (CommentedMap, CommentedSeq)):
        if id(node) in seen:
            return 1
        seen.add(id(node))
        children = node.values() if isinstance(node, CommentedMap) else node
        return 1 + sum(_written_nodes(child, seen) for child in children)
    return 1


def _translate(reason: str, table: dict[str, str], otherwise: str | None = None) -> str:
    for english, vietnamese in table.items():
        if english in reason:
            return vietnamese
    return reason if otherwise is None else otherwise


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _control_character_problem(text: str, file: str) -> Problem | None:
    """A NUL or other control character (the file is binary or damaged): named by line and column."""
    found = _CONTROL.search(text)
    if found is None:
        return None
    line, column = _position(text, found.start())
    return Problem(
        file,
        line,
        "",
        f"ký tự điều khiển không được phép (mã U+{ord(found.group()):04X}) ở cột {column}: "
        "tệp bị hỏng hoặc không phải tệp văn bản",
    )


def _too_deep_line(text: str) -> int | None:
    """The first line nested deeper than MAX_DEPTH (flow brackets or indentation), if any."""
    depth = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.lstrip(" -")
        indent = (len(line) - len(stripped)) // 2
        opens = stripped.count("[") + stripped.count("{")
        if depth + opens + indent > MAX_DEPTH:  # only then look closer (quotes may hold brackets)
            level = depth
            for char in stripped:
                level += char in "[{"
                level -= char in "]}" and level > 0
                if level + indent > MAX_DEPTH:
                    return number
        depth = max(0, depth + opens - stripped.count("]") - stripped.count("}"))
    return None


def _constructor_problem(text: str, file: str, exc: Exception) -> Problem:
    """A value ruamel could not build (a date that does not exist, a malformed number): find its node."""
    try:
        yaml = YAML(typ="rt")
        root = yaml.compose(text)
        stack: list[tuple[Any, Loc]] = [(root, ())]
        while stack:
            node, loc = stack.pop()
            if isinstance(node, ScalarNode):
                try:
                    yaml.constructor.construct_object(node, deep=True)
                except Exception as inner:  # noqa: BLE001  (any failure of this value is the one reported)
                    reason = _translate(str(inner), _VALUE_REASONS, _UNREADABLE_VALUE)
                    return Problem(
                        file, node.start_mark.line + 1, _field(loc), f"giá trị '{node.value}' không hợp lệ: {reason}"
                    )
            elif isinstance(node, MappingNode):
                for key, value in reversed(node.value):
                    name = key.value if isinstance(key, ScalarNode) else "?"
                    stack.append((value, loc + (name,)))
                    stack.append((key, loc))
            elif isinstance(node, SequenceNode):
                stack.extend((item, loc + (index,)) for index, item in reversed(list(enumerate(node.value))))
    except Exception:  # noqa: BLE001  (fall back to the message without a line)
        pass
    return Problem(file, None, "", f"lỗi cú pháp YAML: {_translate(str(exc), _VALUE_REASONS, _UNREADABLE_VALUE)}")


class _Refer(Exception):
    """The fast path met something it leaves to ruamel's round-trip reader."""


_DIRECTIVE = re.compile(r"^%", re.MULTILINE)


def _plain_through_libyaml(text: str) -> tuple[Any, dict[Loc, int]] | None:
    """The common file read about ten times faster: composed by libyaml (ruamel.yaml.clib), every scalar built
    by the same round-trip constructor, resolver (YAML 1.2) and `_plain` as the reader below, lines from the
    same node marks, an alias expanded as `_plain` expands it (within the same budget). Anything else — an
    anchored scalar (ruamel gives it another type), a directive, a tag other than the plain ones (merge keys
    included), keys ruamel would find equal, a non-scalar key, an empty document, an expansion over the budget,
    or any error — returns None and the round-trip reader reads the text as before (its results and messages)."""
    if _CLoader is None or _DIRECTIVE.search(text):
        return None
    try:
        if "&" in text:  # anchors: only on collections (an anchored scalar is built as ScalarInt, ScalarBoolean…)
            events = _CLoader(text)
            while events.check_event():
                event = events.get_event()
                if isinstance(event, ScalarEvent) and event.anchor is not None:
                    return None
        root = _CLoader(text).get_single_node()
        if root is None:
            return None
        constructor = YAML(typ="rt").constructor
        lines: dict[Loc, int] = {(): 1}
        budget = _Budget(MAX_EXPANSION * _written_node_count(root, set()) + EXPANSION_SLACK)
        unlimited = _Budget(10**18)  # `_plain` below builds one scalar; `budget` counts it in `plain`

        def plain(node: Any, loc: Loc) -> Any:
            budget.left -= 1  # as `_plain` counts: every value, an alias's as often as it is used
            if budget.left < 0 or str(node.tag) not in _PLAIN_TAGS:
                raise _Refer
            if isinstance(node, MappingNode):
                out = {}
                keys: set[Any] = set()
                for key_node, value_node in node.value:
                    if not isinstance(key_node, ScalarNode) or str(key_node.tag) not in _PLAIN_TAGS:
                        raise _Refer
                    constructed = constructor.construct_object(key_node, deep=True)
                    key = str(constructed)  # as the reader below
                    if key in out or constructed in keys:  # ruamel refuses equal keys (true and 1, 1 and 1.0)
                        raise _Refer
                    keys.add(constructed)
                    lines[loc + (key,)] = key_node.start_mark.line + 1
                    out[key] = plain(value_node, loc + (key,))
                return out
            if isinstance(node, SequenceNode):
                items = []
                for index, item in enumerate(node.value):
                    lines[loc + (index,)] = item.start_mark.line + 1
                    items.append(plain(item, loc + (index,)))
                return items
            return _plain(constructor.construct_object(node, deep=True), loc, lines, unlimited)

        return plain(root, ()), lines
    except Exception:  # noqa: BLE001  (whatever it is, the round-trip reader says it as before)
        return None


def _written_node_count(node: Any, seen: set[int]) -> int:
    """`_written_nodes` on composed nodes: a shared (aliased) collection counted once."""
    if isinstance(node, (MappingNode, SequenceNode)):
        if id(node) in seen:
            return 1
        seen.add(id(node))
        children = [value for _, value in node.value] if isinstance(node, MappingNode) else node.value
        return 1 + sum(_written_node_count(child, seen) for child in children)
    return 1


def parse_yaml(text: str, file: str) -> SourceDoc:
    control = _control_character_problem(text, file)
    if control is not None:
        raise SpecError([control])
    deep = _too_deep_line(text)
    if deep is not None:
        raise SpecError([Problem(file, deep, "", f"cấu trúc lồng nhau quá sâu (quá {MAX_DEPTH} cấp)")])
    fast = _plain_through_libyaml(text)
    if fast is not None:
        return SourceDoc(file=file, data=fast[0], lines=fast[1])
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        # An unclosed quote is found at the end of the file; the quote itself is where the context points.
        at_end = "end of stream" in str(exc.problem or "")
        mark = (exc.context_mark if at_end and exc.context_mark else None) or exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = _translate(str(exc.problem or exc), _YAML_REASONS)
        raise SpecError([Problem(file, line, "", f"lỗi cú pháp YAML: {reason}")]) from None
    except RecursionError:
        raise SpecError([Problem(file, None, "", f"cấu trúc lồng nhau quá sâu (quá {MAX_DEPTH} cấp)")]) from None
    except Exception as exc:  # values ruamel cannot build (31/02, bad numbers) and a few unmarked errors
        raise SpecError([_constructor_problem(text, file, exc)]) from None
    lines: dict[Loc, int] = {(): 1}
    budget = _Budget(MAX_EXPANSION * _written_nodes(root, set()) + EXPANSION_SLACK)
    try:
        data = _plain(root, (), lines, budget)
    except SpecError as exc:
        if exc.problems[0].message:  # a refused tag
            raise SpecError([Problem(file, p.line, p.field, p.message) for p in exc.problems]) from None
        raise SpecError(
            [
                Problem(
                    file,
                    exc.problems[0].line,
                    "",
                    "tệp dùng tham chiếu YAML (anchor '&' / alias '*') lồng "
                    "nhau quá nhiều: khi mở rộng, tệp lớn gấp hàng trăm lần (tệp độc hại?); hãy viết "
                    "đầy đủ giá trị thay cho tham chiếu",
                )
            ]
        ) from None
    return SourceDoc(file=file, data=data, lines=lines)


def decode_text(data: bytes, file: str) -> str:
    """UTF-8 text of a file's bytes; SpecError locating the first byte that is not (UTF-16, Windows-1258…)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError([Problem(file, 1, "", "tệp được lưu với bảng mã UTF-16; hãy lưu lại với bảng mã UTF-8")])
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            [
                Problem(
                    file,
                    line,
                    "",
                    f"tệp không phải văn bản UTF-8 (byte 0x{data[exc.start]:02X} ở cột {column}; có thể tệp được lưu bằng "
                    "bảng mã Windows-1258 hay TCVN3); hãy mở tệp và lưu lại với bảng mã UTF-8",
                )
            ]
        ) from None
