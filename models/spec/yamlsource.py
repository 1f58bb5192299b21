"""YAML text -> plain Python data plus the line of every key and list item (ruamel keeps positions)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from thidua.models.spec.problems import Problem, SpecError

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


def _plain(node: Any, loc: Loc, lines: dict[Loc, int]) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            try:
                line = node.lc.key(key)[0] + 1
            except (KeyError, TypeError, AttributeError):
                line = node.lc.line + 1
            lines[loc + (str(key),)] = line
            out[str(key)] = _plain(value, loc + (str(key),), lines)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for index, value in enumerate(node):
            try:
                lines[loc + (index,)] = node.lc.item(index)[0] + 1
            except (KeyError, TypeError, AttributeError):
                lines[loc + (index,)] = node.lc.line + 1
            out_list.append(_plain(value, loc + (index,), lines))
        return out_list
    if isinstance(node, datetime):
        return node
    if isinstance(node, date):
        return node
    if node is None or isinstance(node, (bool, int, float)):
        return node
    return str(node)


def parse_yaml(text: str, file: str) -> SourceDoc:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        reason = exc.problem or str(exc)
        raise SpecError([Problem(file, line, "", f"lỗi cú pháp YAML: {reason}")]) from None
    except Exception as exc:  # ruamel raises a few non-marked errors (e.g. duplicate keys)
        raise SpecError([Problem(file, None, "", f"lỗi cú pháp YAML: {exc}")]) from None
    lines: dict[Loc, int] = {(): 1}
    data = _plain(root, (), lines)
    return SourceDoc(file=file, data=data, lines=lines)
