"""Reorganising the unit tree at an effective date (pure: no I/O).

A change file (CSV or XLSX, one row per operation) is read by thidua.services.reorganisation into
`RawChange`s; `parse_changes` checks each cell, `plan_reorganisation` replays the rows in file order on an
in-memory copy of the stored tree (so a row may use a unit created or moved by an earlier row), reports
every problem with its row and column, and returns a `ReorgPlan`: tree steps for the service to execute as
range statements, the log rows (one per affected unit: the before/after mapping), and the consequences a
dry run lists.

Operations (column "Thao tác"):
  tao_moi    create   new unit: code, name, level, parent (e-mail, sector optional)
  doi_ten    rename   unit, new name
  chuyen     move     unit (with its subtree) under a new parent
  sap_nhap   merge    units "A; B" into the successor C (existing, or created by the row when it gives a
                      name, a parent and optionally a level): their children go to C, they end
  chia_tach  split    unit A into successors "A1; A2" (existing or created earlier in the file): children
                      not moved by earlier rows go to the first successor, which also takes A's work; A ends
  giai_the   dissolve unit A ends; its children go to the named successor (required when it has any)

An ended unit is kept (inactive) and placed under its successor, so that every path-range roll-up of the
successor includes the ended unit's past figures (declared rule: figures before a merger belong to the
successor). The tree as it stood before the date stays readable from the unit versions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from thidua.models.clock import fmt_date
from thidua.models.hierarchy import (
    MAX_UNIT_ID,
    ExistingUnit,
    LevelIndex,
    SEGMENT_WIDTH,
    _key,
    _text,
    parse_emails,
    parse_sector,
    path_segment,
)
from thidua.models.spec.problems import Problem

OPERATIONS = ("create", "rename", "move", "merge", "split", "dissolve")
OPERATION_LABELS = {
    "create": "tạo mới",
    "rename": "đổi tên",
    "move": "chuyển",
    "merge": "sáp nhập",
    "split": "chia tách",
    "dissolve": "giải thể",
}
_OPERATION_WORDS = {
    "create": ("tao_moi", "tạo mới", "tao moi", "thành lập", "thanh lap", "create"),
    "rename": ("doi_ten", "đổi tên", "doi ten", "rename"),
    "move": ("chuyen", "chuyển", "chuyển cấp trên", "chuyen cap tren", "move"),
    "merge": ("sap_nhap", "sáp nhập", "sap nhap", "hợp nhất", "hop nhat", "merge"),
    "split": ("chia_tach", "chia tách", "chia tach", "split"),
    "dissolve": ("giai_the", "giải thể", "giai the", "kết thúc hoạt động", "ket thuc hoat dong", "dissolve"),
}
_OPERATION_BY_WORD = {_key(word): op for op, words in _OPERATION_WORDS.items() for word in words}

# Spreadsheet columns: ascii code and Vietnamese label (headers are matched case-insensitively).
COLUMNS: dict[str, tuple[str, ...]] = {
    "effective_on": ("ngay_hieu_luc", "Ngày hiệu lực"),
    "operation": ("thao_tac", "Thao tác"),
    "units": ("ma_don_vi", "Mã đơn vị"),
    "successors": ("ma_ke_thua", "Mã đơn vị kế thừa"),
    "name": ("ten_don_vi", "Tên đơn vị", "Tên mới"),
    "level": ("cap", "Cấp"),
    "parent": ("ma_cap_tren", "Mã đơn vị cấp trên"),
    "emails": ("email", "E-mail"),
    "sector": ("khu_vuc", "Khu vực"),
    "note": ("ghi_chu", "Ghi chú", "Căn cứ"),
}
REQUIRED_COLUMNS = ("effective_on", "operation", "units")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_CODE_LIST_SPLIT = re.compile(r"\s*[;,+]\s*")


@dataclass(slots=True)
class RawChange:
    """One row of a change file: cell values by field name, and how the file names each column."""

    file: str
    line: int
    values: dict[str, Any]
    labels: Mapping[str, str]

    def label(self, name: str) -> str:
        return self.labels.get(name, COLUMNS[name][1])

    def problem(self, name: str, message: str) -> Problem:
        return Problem(self.file, self.line, self.label(name), message)


@dataclass(slots=True)
class ChangeRow:
    raw: RawChange
    operation: str
    effective_on: date
    units: list[str]
    successors: list[str]
    name: str | None
    level_code: str | None
    parent_code: str | None
    emails: list[str]
    sector: str | None
    note: str

    @property
    def line(self) -> int:
        return self.raw.line


def _parse_day(text: str) -> date:
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError


def _cell_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        raise LookupError
    return _parse_day(text)


def _codes(value: Any) -> list[str]:
    text = _text(value)
    return [code for code in _CODE_LIST_SPLIT.split(text) if code] if text else []


def parse_changes(raws: Iterable[RawChange], levels: LevelIndex) -> tuple[list[ChangeRow], list[Problem]]:
    """Each cell checked on its own (the tree is checked by plan_reorganisation)."""
    rows: list[ChangeRow] = []
    problems: list[Problem] = []
    for raw in raws:
        before = len(problems)
        values = raw.values
        try:
            effective_on = _cell_date(values.get("effective_on"))
        except LookupError:
            problems.append(raw.problem("effective_on", "thiếu ngày hiệu lực"))
            effective_on = None
        except ValueError:
            problems.append(
                raw.problem(
                    "effective_on", f"ngày không hợp lệ: '{_text(values.get('effective_on'))}' (viết dd/mm/yyyy)"
                )
            )
            effective_on = None
        op_text = _text(values.get("operation"))
        operation = _OPERATION_BY_WORD.get(_key(op_text)) if op_text else None
        if op_text is None:
            problems.append(raw.problem("operation", "thiếu thao tác"))
        elif operation is None:
            problems.append(
                raw.problem(
                    "operation",
                    f"thao tác không hợp lệ: '{op_text}' (dùng: "
                    + ", ".join(f"{words[0]} ({words[1]})" for words in _OPERATION_WORDS.values())
                    + ")",
                )
            )
        units = _codes(values.get("units"))
        successors = _codes(values.get("successors"))
        for name, codes in (("units", units), ("successors", successors)):
            for code in codes:
                if len(code) > 64 or not _CODE.match(code):
                    problems.append(raw.problem(name, f"mã đơn vị không đúng dạng: '{code}'"))
        if not units:
            problems.append(raw.problem("units", "thiếu mã đơn vị"))
        level_code = None
        level_text = _text(values.get("level"))
        if level_text is not None:
            level_code = levels.resolve(level_text)
            if level_code is None:
                problems.append(
                    raw.problem("level", f"cấp không tồn tại: '{level_text}' (các cấp: {levels.describe()})")
                )
        emails, email_errors = parse_emails(values.get("emails"))
        problems.extend(raw.problem("emails", message) for message in email_errors)
        sector = None
        try:
            sector = parse_sector(values.get("sector"))
        except ValueError as exc:
            problems.append(raw.problem("sector", str(exc)))
        if len(problems) == before and operation is not None and effective_on is not None:
            rows.append(
                ChangeRow(
                    raw,
                    operation,
                    effective_on,
                    units,
                    successors,
                    _text(values.get("name")),
                    level_code,
                    _text(values.get("parent")),
                    emails,
                    sector,
                    _text(values.get("note")) or "",
                )
            )
    return rows, problems


# ---------------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TreeStep:
    """One statement group for the service, executed in plan order.

    insert        values: the new unit row
    move          the unit and its subtree: paths with prefix `old_path` get `new_path`; parent_id set
    move_children the subtree below the unit (not the unit): prefix `old_path` -> `new_path`; children's
                  parent_id becomes `new_parent_id`
    set           values: columns of the one unit (name, active)
    Before changing a row the service closes it into a unit version unless it already starts on the date."""

    kind: str
    effective_on: date
    unit_id: int
    line: int
    values: Mapping[str, Any] = field(default_factory=dict)
    old_path: str = ""
    new_path: str = ""
    new_parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class Consequence:
    line: int
    operation: str
    text: str


@dataclass
class ReorgPlan:
    steps: list[TreeStep]
    log: list[dict[str, Any]]  # reorganisation_step rows without reorganisation_id
    consequences: list[Consequence]
    effective_on: date  # the latest date of the file
    rows: int
    counts: dict[str, int]
    inserted_ids: list[int]
    warnings: list[str] = field(default_factory=list)

    @property
    def ended_ids(self) -> list[int]:
        return [row["unit_id"] for row in self.log if row["kind"] == "ended"]


@dataclass(slots=True)
class _Node:
    id: int
    code: str
    name: str
    level_code: str
    parent_id: int | None
    active: bool
    valid_from: date | None = None


class _Tree:
    """The stored tree with the file's changes applied so far (children lists built once, kept current)."""

    def __init__(self, units: Iterable[tuple[int, str, str, str, int | None, bool]]):
        self.nodes: dict[int, _Node] = {}
        self.by_code: dict[str, _Node] = {}
        self.children: dict[int, list[int]] = {}
        for unit_id, code, name, level_code, parent_id, active in units:
            node = _Node(unit_id, code, name, level_code, parent_id, active)
            self.nodes[unit_id] = node
            self.by_code[code] = node
            if parent_id is not None:
                self.children.setdefault(parent_id, []).append(unit_id)
        self.next_id = max(self.nodes, default=0) + 1

    def path(self, unit_id: int) -> str:
        chain = []
        current: int | None = unit_id
        while current is not None:
            chain.append(path_segment(current))
            current = self.nodes[current].parent_id
        return "".join(reversed(chain))

    def is_within(self, unit_id: int, ancestor_id: int) -> bool:
        current: int | None = unit_id
        while current is not None:
            if current == ancestor_id:
                return True
            current = self.nodes[current].parent_id
        return False

    def subtree_size(self, unit_id: int) -> int:
        count, stack = 0, [unit_id]
        while stack:
            current = stack.pop()
            count += 1
            stack.extend(self.children.get(current, ()))
        return count

    def active_children(self, unit_id: int) -> list[_Node]:
        return [self.nodes[c] for c in self.children.get(unit_id, ()) if self.nodes[c].active]

    def set_parent(self, unit_id: int, parent_id: int | None) -> None:
        node = self.nodes[unit_id]
        if node.parent_id is not None:
            self.children[node.parent_id].remove(unit_id)
        node.parent_id = parent_id
        if parent_id is not None:
            self.children.setdefault(parent_id, []).append(unit_id)

    def add(self, code: str, name: str, level_code: str, parent_id: int | None, day: date) -> _Node:
        node = _Node(self.next_id, code, name, level_code, None, True, day)
        self.next_id += 1
        self.nodes[node.id] = node
        self.by_code[code] = node
        self.set_parent(node.id, parent_id)
        return node


@dataclass(frozen=True, slots=True)
class LevelPeriod:
    """When a level of the catalogue is in force: [valid_from, valid_to), None meaning open."""

    valid_from: date | None = None
    valid_to: date | None = None

    def covers(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (self.valid_to is None or day < self.valid_to)


def _number(value: int) -> str:
    return f"{value:,}".replace(",", ".")


class _Planner:
    def __init__(
        self,
        units: Iterable[tuple[int, str, str, str, int | None, bool]],
        levels: LevelIndex,
        periods: Mapping[str, LevelPeriod],
        not_before: date | None,
        today: date,
    ):
        self.tree = _Tree(units)
        self.levels = levels
        self.periods = periods
        self.not_before = not_before
        self.today = today
        self.steps: list[TreeStep] = []
        self.log: list[dict[str, Any]] = []
        self.consequences: list[Consequence] = []
        self.problems: list[Problem] = []
        self.inserted: list[int] = []
        self.counts = {op: 0 for op in OPERATIONS}
        self.last_day: date | None = None

    # -- checks ---------------------------------------------------------------------------------------
    def _fail(self, row: ChangeRow, column: str, message: str) -> None:
        self.problems.append(row.raw.problem(column, message))

    def _active_unit(self, row: ChangeRow, column: str, code: str) -> _Node | None:
        node = self.tree.by_code.get(code)
        if node is None:
            self._fail(row, column, f"không có đơn vị mã '{code}' (trong cơ sở dữ liệu hoặc ở các dòng trên)")
            return None
        if not node.active:
            self._fail(row, column, f"đơn vị '{code}' đã ngừng hoạt động")
            return None
        return node

    def _level_fits(self, row: ChangeRow, column: str, child_level: str, parent: _Node, what: str) -> bool:
        if self.levels.rank(child_level) <= self.levels.rank(parent.level_code):
            self._fail(
                row,
                column,
                f"{what} (cấp '{self.levels.label(child_level)}') phải thấp hơn cấp của "
                f"'{parent.code}' ({self.levels.label(parent.level_code)})",
            )
            return False
        return True

    def _level_in_force(self, row: ChangeRow, column: str, level_code: str) -> bool:
        period = self.periods.get(level_code)
        if period is not None and not period.covers(row.effective_on):
            self._fail(
                row,
                column,
                f"cấp '{self.levels.label(level_code)}' không còn (hoặc chưa) áp dụng vào ngày "
                f"{fmt_date(row.effective_on)}",
            )
            return False
        return True

    def _check_date(self, row: ChangeRow) -> bool:
        day = row.effective_on
        if day > self.today:
            self._fail(
                row,
                "effective_on",
                f"ngày hiệu lực {fmt_date(day)} chưa đến (hôm nay {fmt_date(self.today)}); "
                "chỉ áp dụng tệp khi đã đến ngày hiệu lực",
            )
            return False
        if self.not_before is not None and day < self.not_before:
            self._fail(
                row,
                "effective_on",
                f"ngày hiệu lực {fmt_date(day)} trước lần tái cấu trúc đã áp dụng gần nhất "
                f"({fmt_date(self.not_before)})",
            )
            return False
        if self.last_day is not None and day < self.last_day:
            self._fail(
                row,
                "effective_on",
                f"các dòng phải theo thứ tự ngày hiệu lực (dòng trên có ngày {fmt_date(self.last_day)})",
            )
            return False
        return True

    def _say(self, row: ChangeRow, text: str) -> None:
        self.consequences.append(Consequence(row.line, row.operation, text))

    def _log(self, row: ChangeRow, kind: str, node: _Node, **values: Any) -> None:
        self.log.append(
            {
                "line": row.line,
                "operation": row.operation,
                "kind": kind,
                "effective_on": row.effective_on,
                "unit_id": node.id,
                "old_parent_id": values.get("old_parent_id"),
                "new_parent_id": values.get("new_parent_id"),
                "successor_unit_id": values.get("successor_unit_id"),
                "is_primary": values.get("is_primary", True),
                "old_name": values.get("old_name", ""),
                "new_name": values.get("new_name", ""),
            }
        )

    # -- primitive changes ----------------------------------------------------------------------------
    def _make_unit(self, row: ChangeRow, code: str, name: str, level_code: str, parent: _Node) -> _Node:
        node = self.tree.add(code, name, level_code, parent.id, row.effective_on)
        path = self.tree.path(node.id)
        self.inserted.append(node.id)
        self.steps.append(
            TreeStep(
                "insert",
                row.effective_on,
                node.id,
                row.line,
                {
                    "id": node.id,
                    "code": code,
                    "name": name,
                    "level_code": level_code,
                    "parent_id": parent.id,
                    "sector": row.sector,
                    "emails": list(row.emails),
                    "active": True,
                    "cluster": None,
                    "path": path,
                    "depth": len(path) // SEGMENT_WIDTH - 1,
                    "valid_from": row.effective_on,
                },
            )
        )
        self._log(row, "created", node, new_parent_id=parent.id, new_name=name)
        self._say(row, f"tạo '{code}' — {name} ({self.levels.label(level_code)}), trực thuộc '{parent.code}'")
        return node

    def _relocate(self, row: ChangeRow, node: _Node, parent: _Node) -> None:
        old_path, old_parent = self.tree.path(node.id), node.parent_id
        size = self.tree.subtree_size(node.id)
        self.tree.set_parent(node.id, parent.id)
        self.steps.append(
            TreeStep(
                "move",
                row.effective_on,
                node.id,
                row.line,
                old_path=old_path,
                new_path=self.tree.path(node.id),
                new_parent_id=parent.id,
            )
        )
        self._log(row, "moved", node, old_parent_id=old_parent, new_parent_id=parent.id)
        old_code = self.tree.nodes[old_parent].code if old_parent is not None else "—"
        extra = f" cùng {_number(size - 1)} đơn vị trực thuộc" if size > 1 else ""
        self._say(row, f"chuyển '{node.code}'{extra} từ '{old_code}' sang '{parent.code}'")

    def _move_children(self, row: ChangeRow, node: _Node, parent: _Node) -> None:
        child_ids = list(self.tree.children.get(node.id, ()))
        if not child_ids:
            return
        old_prefix = self.tree.path(node.id)
        size = self.tree.subtree_size(node.id) - 1
        for child_id in child_ids:
            child = self.tree.nodes[child_id]
            self.tree.set_parent(child_id, parent.id)
            if child.active:
                self._log(row, "moved", child, old_parent_id=node.id, new_parent_id=parent.id)
        self.steps.append(
            TreeStep(
                "move_children",
                row.effective_on,
                node.id,
                row.line,
                old_path=old_prefix,
                new_path=self.tree.path(parent.id),
                new_parent_id=parent.id,
            )
        )
        active = sum(1 for c in child_ids if self.tree.nodes[c].active)
        self._say(
            row,
            f"{_number(active)} đơn vị trực thuộc '{node.code}' chuyển sang '{parent.code}' "
            f"({_number(size)} đơn vị đổi vị trí trong cây)",
        )

    def _end(self, row: ChangeRow, node: _Node, successors: list[_Node]) -> None:
        """The unit stops; it is kept (inactive) under its first successor, which takes its figures."""
        if successors and node.parent_id != successors[0].id:
            old_path = self.tree.path(node.id)
            self.tree.set_parent(node.id, successors[0].id)
            self.steps.append(
                TreeStep(
                    "move",
                    row.effective_on,
                    node.id,
                    row.line,
                    old_path=old_path,
                    new_path=self.tree.path(node.id),
                    new_parent_id=successors[0].id,
                )
            )
        node.active = False
        self.steps.append(TreeStep("set", row.effective_on, node.id, row.line, {"active": False}))
        for index, successor in enumerate(successors):
            self._log(row, "ended", node, successor_unit_id=successor.id, is_primary=index == 0)
        if not successors:
            self._log(row, "ended", node)
        names = " và ".join(f"'{s.code}'" for s in successors)
        self._say(
            row,
            f"'{node.code}' ngừng hoạt động từ {fmt_date(row.effective_on)}"
            + (f"; đơn vị kế thừa: {names} (nhận công việc đang dở và số liệu trước đó)" if successors else ""),
        )

    # -- operations ------------------------------------------------------------------------------------
    def apply(self, row: ChangeRow) -> None:
        if not self._check_date(row):
            return
        self.last_day = row.effective_on
        before = len(self.problems)
        getattr(self, f"_{row.operation}")(row)
        if len(self.problems) == before:
            self.counts[row.operation] += 1

    def _single(self, row: ChangeRow) -> str | None:
        if len(row.units) != 1:
            self._fail(row, "units", f"thao tác '{OPERATION_LABELS[row.operation]}' nhận đúng một mã đơn vị")
            return None
        return row.units[0]

    def _create(self, row: ChangeRow) -> None:
        code = self._single(row)
        if code is None:
            return
        ok = True
        if code in self.tree.by_code:
            self._fail(row, "units", f"mã đơn vị '{code}' đã tồn tại")
            ok = False
        if row.name is None:
            self._fail(row, "name", "thiếu tên đơn vị")
            ok = False
        if row.level_code is None:
            self._fail(row, "level", "thiếu cấp của đơn vị mới")
            ok = False
        elif not self._level_in_force(row, "level", row.level_code):
            ok = False
        if row.parent_code is None:
            self._fail(row, "parent", "thiếu mã đơn vị cấp trên")
            return
        parent = self._active_unit(row, "parent", row.parent_code)
        if parent is None or not ok:
            return
        assert row.name is not None and row.level_code is not None  # ok: both were checked above
        if self._level_fits(row, "level", row.level_code, parent, f"đơn vị mới '{code}'"):
            self._make_unit(row, code, row.name, row.level_code, parent)

    def _rename(self, row: ChangeRow) -> None:
        code = self._single(row)
        node = self._active_unit(row, "units", code) if code else None
        if node is None:
            return
        if row.name is None:
            self._fail(row, "name", "thiếu tên mới")
            return
        if row.name == node.name:
            self._fail(row, "name", f"tên mới trùng tên hiện tại của '{code}'")
            return
        old = node.name
        node.name = row.name
        self.steps.append(TreeStep("set", row.effective_on, node.id, row.line, {"name": row.name}))
        self._log(row, "renamed", node, old_name=old, new_name=row.name)
        self._say(row, f"đổi tên '{code}': {old} → {row.name}")

    def _move(self, row: ChangeRow) -> None:
        code = self._single(row)
        node = self._active_unit(row, "units", code) if code else None
        if node is None:
            return
        if row.parent_code is None:
            self._fail(row, "parent", "thiếu mã đơn vị cấp trên mới")
            return
        parent = self._active_unit(row, "parent", row.parent_code)
        if parent is None:
            return
        if parent.id == node.parent_id:
            self._fail(row, "parent", f"'{code}' đã trực thuộc '{parent.code}'")
            return
        if self.tree.is_within(parent.id, node.id):
            self._fail(row, "parent", f"không thể chuyển '{code}' vào bên trong chính nó ('{parent.code}')")
            return
        if self._level_fits(row, "parent", node.level_code, parent, f"'{code}'"):
            self._relocate(row, node, parent)

    def _successor_for_merge(self, row: ChangeRow, predecessors: list[_Node]) -> _Node | None:
        if len(row.successors) != 1:
            self._fail(row, "successors", "sáp nhập cần đúng một mã đơn vị kế thừa")
            return None
        code = row.successors[0]
        existing = self.tree.by_code.get(code)
        if existing is not None:
            if row.name is not None or row.parent_code is not None:
                self._fail(
                    row,
                    "name",
                    f"đơn vị kế thừa '{code}' đã có: bỏ trống tên và cấp trên "
                    "(chỉ ghi khi đơn vị kế thừa được tạo mới ở dòng này)",
                )
                return None
            return self._active_unit(row, "successors", code)
        if row.name is None or row.parent_code is None:
            self._fail(
                row,
                "successors",
                f"không có đơn vị '{code}': để tạo mới đơn vị kế thừa, ghi tên đơn vị và mã đơn vị cấp trên",
            )
            return None
        parent = self._active_unit(row, "parent", row.parent_code)
        level = row.level_code or predecessors[0].level_code
        if parent is None or not self._level_in_force(row, "level", level):
            return None
        if any(self.tree.is_within(parent.id, p.id) for p in predecessors):
            self._fail(row, "parent", f"đơn vị cấp trên '{parent.code}' nằm trong một đơn vị bị sáp nhập")
            return None
        if not self._level_fits(row, "level", level, parent, f"đơn vị kế thừa '{code}'"):
            return None
        return self._make_unit(row, code, row.name, level, parent)

    def _merge(self, row: ChangeRow) -> None:
        predecessors = []
        for code in row.units:
            node = self._active_unit(row, "units", code)
            if node is not None:
                predecessors.append(node)
        if len(set(row.units)) != len(row.units):
            self._fail(row, "units", "một mã đơn vị được ghi hai lần")
            return
        if len(predecessors) != len(row.units):
            return
        if row.successors and row.successors[0] in row.units:
            predecessors = [p for p in predecessors if p.code != row.successors[0]]
            if not predecessors:
                self._fail(row, "units", "cần ít nhất một đơn vị khác đơn vị kế thừa")
                return
        before = len(self.problems)
        successor = self._successor_for_merge(row, predecessors)
        if successor is None or len(self.problems) != before:
            return
        for node in predecessors:
            if self.tree.is_within(successor.id, node.id):
                self._fail(
                    row, "successors", f"đơn vị kế thừa '{successor.code}' nằm trong đơn vị bị sáp nhập '{node.code}'"
                )
                return
            for child in self.tree.active_children(node.id):
                if not self._level_fits(
                    row,
                    "successors",
                    child.level_code,
                    successor,
                    f"đơn vị trực thuộc '{child.code}' của '{node.code}'",
                ):
                    return
        for node in predecessors:
            self._move_children(row, node, successor)
            self._end(row, node, [successor])

    def _split(self, row: ChangeRow) -> None:
        code = self._single(row)
        node = self._active_unit(row, "units", code) if code else None
        if node is None:
            return
        if len(row.successors) < 2:
            self._fail(row, "successors", "chia tách cần ít nhất hai mã đơn vị kế thừa (tạo chúng ở các dòng trên)")
            return
        successors = []
        for successor_code in row.successors:
            successor = self._active_unit(row, "successors", successor_code)
            if successor is None:
                return
            if successor.id == node.id or self.tree.is_within(successor.id, node.id):
                self._fail(row, "successors", f"đơn vị kế thừa '{successor_code}' không được nằm trong '{code}'")
                return
            successors.append(successor)
        for child in self.tree.active_children(node.id):
            if not self._level_fits(
                row, "successors", child.level_code, successors[0], f"đơn vị trực thuộc còn lại '{child.code}'"
            ):
                return
        self._move_children(row, node, successors[0])
        self._end(row, node, successors)

    def _dissolve(self, row: ChangeRow) -> None:
        code = self._single(row)
        node = self._active_unit(row, "units", code) if code else None
        if node is None:
            return
        children = self.tree.active_children(node.id)
        if len(row.successors) > 1:
            self._fail(row, "successors", "giải thể nhận nhiều nhất một đơn vị kế thừa")
            return
        if not row.successors:
            if children:
                self._fail(
                    row,
                    "successors",
                    f"'{code}' còn {_number(len(children))} đơn vị trực thuộc: ghi đơn vị kế thừa nhận chúng",
                )
                return
            self._end(row, node, [])
            return
        successor = self._active_unit(row, "successors", row.successors[0])
        if successor is None:
            return
        if successor.id == node.id or self.tree.is_within(successor.id, node.id):
            self._fail(row, "successors", f"đơn vị kế thừa '{successor.code}' không được nằm trong '{code}'")
            return
        for child in children:
            if not self._level_fits(
                row, "successors", child.level_code, successor, f"đơn vị trực thuộc '{child.code}'"
            ):
                return
        self._move_children(row, node, successor)
        self._end(row, node, [successor])


def plan_reorganisation(
    rows: list[ChangeRow],
    units: Iterable[tuple[int, str, str, str, int | None, bool]],
    levels: LevelIndex,
    *,
    today: date,
    not_before: date | None = None,
    level_periods: Mapping[str, LevelPeriod] | None = None,
) -> tuple[ReorgPlan | None, list[Problem]]:
    """Replay the rows in order on the stored tree (`units`: (id, code, name, level, parent id, active) rows);
    (plan, []) or (None, every problem). `not_before`: the effective date of the last applied reorganisation
    (history is written in date order)."""
    planner = _Planner(units, levels, level_periods or {}, not_before, today)
    for row in rows:
        planner.apply(row)
    if planner.tree.next_id - 1 > MAX_UNIT_ID:
        planner.problems.append(Problem(rows[0].raw.file if rows else "", None, "", "vượt quá số đơn vị tối đa"))
    if planner.problems:
        return None, planner.problems
    effective_on = max((row.effective_on for row in rows), default=today)
    return ReorgPlan(
        planner.steps,
        planner.log,
        planner.consequences,
        effective_on,
        len(rows),
        planner.counts,
        planner.inserted,
        ended_level_warnings(planner.tree, levels, planner.periods, effective_on),
    ), []


def ended_level_warnings(tree: _Tree, levels: LevelIndex, periods: Mapping[str, LevelPeriod], day: date) -> list[str]:
    """Levels of the catalogue no longer in force on `day` that active units still have (after the file)."""
    ended = {code for code, period in periods.items() if period.valid_to is not None and period.valid_to <= day}
    if not ended:
        return []
    counts: dict[str, int] = {}
    for node in tree.nodes.values():
        if node.active and node.level_code in ended:
            counts[node.level_code] = counts.get(node.level_code, 0) + 1
    return [
        f"cấp '{levels.label(code)}' hết hiệu lực từ {fmt_date(periods[code].valid_to)} nhưng còn "
        f"{_number(count)} đơn vị đang hoạt động ở cấp này"
        for code, count in sorted(counts.items())
    ]


# ---------------------------------------------------------------------------------------------------
# Carrying in-flight work
# ---------------------------------------------------------------------------------------------------
NO_LONGER_APPLIES = "không còn áp dụng"


@dataclass(frozen=True, slots=True)
class OpenAssignment:
    id: int
    obligation_id: int
    unit_id: int  # the ended unit
    status: str


def carry_assignments(
    open_rows: Iterable[OpenAssignment],
    successor_of: Mapping[int, int],
    successor_level: Mapping[int, str],
    obligation_levels: Mapping[int, list[str]],
    already_owed: set[tuple[int, int]],
) -> tuple[list[tuple[OpenAssignment, int]], list[OpenAssignment]]:
    """(moves: (assignment, successor id), closes) for the open assignments of ended units.

    Declared rule: an open assignment moves to its unit's successor when the obligation applies to the
    successor's level (the campaign's `levels` of that obligation; empty means every level) and the
    successor does not owe it already (one assignment per obligation and unit); otherwise it is closed as
    "không còn áp dụng". Among several predecessors, the assignment with the lowest id moves."""
    moves: list[tuple[OpenAssignment, int]] = []
    closes: list[OpenAssignment] = []
    owed = set(already_owed)
    for row in sorted(open_rows, key=lambda r: r.id):
        successor = successor_of.get(row.unit_id)
        levels = obligation_levels.get(row.obligation_id, [])
        if (
            successor is None
            or (levels and successor_level[successor] not in levels)
            or (row.obligation_id, successor) in owed
        ):
            closes.append(row)
            continue
        owed.add((row.obligation_id, successor))
        moves.append((row, successor))
    return moves, closes


def final_successors(pairs: Iterable[tuple[int, int]]) -> dict[int, int]:
    """predecessor -> the unit that finally holds its work, following chains (A -> B, B -> C gives A -> C)."""
    direct = dict(pairs)
    out = {}
    for start in direct:
        seen, current = {start}, direct[start]
        while current in direct and current not in seen:
            seen.add(current)
            current = direct[current]
        out[start] = current
    return out


def existing_unit_values(unit: ExistingUnit) -> dict[str, Any]:
    return {"code": unit.code, "name": unit.name, "level_code": unit.level_code, "parent_id": unit.parent_id}
