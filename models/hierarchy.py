"""Rules of the union unit hierarchy (pure: no I/O).

A unit file (YAML, CSV, XLSX) is read by thidua.services.units into `RawUnit`s; here they are normalised
(`normalize_units`), checked against each other and against the units already stored (`check_hierarchy`),
and turned into an `ImportPlan`: rows to insert and update, subtree path rewrites for moved units, units to
deactivate, and the audit rows. The adapter only executes the plan.

Materialised paths (`thidua.models.treepath`, re-exported here): each unit's `path` is the chain of ids from the
root, each as a fixed-width segment f"{id:08d}." (`path_segment`). A subtree is the range
[path, subtree_upper_bound(path)), and grouping by the ancestor at depth d is grouping by the first
`path_prefix_len(d)` characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Mapping

from thidua.models.attributes import AttributeSchema, merged_attributes, parse_attribute
from thidua.models.emails import checked_email
from thidua.models.spec.problems import Problem, SpecError

# Levels and paths are the hierarchy's: their rules live in thidua.models.levels and thidua.models.treepath
# (light modules) and are re-exported here.
from thidua.models.levels import (
    LevelInfo as LevelInfo,
    LevelSpec as LevelSpec,
    LevelsFile as LevelsFile,
    duplicate_level_codes as duplicate_level_codes,
    level_period_problems as level_period_problems,
    levels_from_file as levels_from_file,
    rank_conflicts as rank_conflicts,
)
from thidua.models.treepath import (
    MAX_UNIT_ID as MAX_UNIT_ID,
    SEGMENT_WIDTH as SEGMENT_WIDTH,
    child_path as child_path,
    path_depth as path_depth,
    path_ids as path_ids,
    path_prefix_len as path_prefix_len,
    path_segment as path_segment,
    subtree_range as subtree_range,
    subtree_upper_bound as subtree_upper_bound,
)
from thidua.models.vnformat import fmt_integer


# ---------------------------------------------------------------------------------------------------
# Incoming rows
# ---------------------------------------------------------------------------------------------------
FIELDS = ("code", "name", "level", "parent", "sector", "emails", "active", "cluster")
SECTORS = ("sxkd", "hcsn")
CLUSTER_MAX = 120
_UNIT_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")  # as models.spec.common.UnitCode
_CODE_MAX = 64


@dataclass(frozen=True, slots=True)
class RowSource:
    """Shared by every row of one file: its name and how it names each field (header or YAML key)."""

    file: str
    labels: Mapping[str, str]
    label_prefix: str = ""  # YAML: "units[{index}]."


@dataclass(slots=True)
class RawUnit:
    """One unit as read from a file, values not yet checked (str, bool, int, list or None)."""

    source: RowSource
    line: int | None  # spreadsheet row (header is row 1) or YAML line of the list item
    index: int = 0  # position among the file's units, for YAML field paths
    code: Any = None
    name: Any = None
    level: Any = None
    parent: Any = None
    sector: Any = None
    emails: Any = None
    active: Any = None
    cluster: Any = None
    field_lines: dict[str, int] | None = None  # YAML: line of each key present
    attributes: Any = None  # {attribute code: raw value}; labels and lines under "attributes.<code>"

    def label(self, name: str) -> str:
        label = self.source.labels.get(name, name)
        return self.source.label_prefix.format(index=self.index) + label

    def problem(self, name: str, message: str) -> Problem:
        line = (self.field_lines or {}).get(name, self.line)
        return Problem(self.source.file, line, self.label(name), message)


@dataclass(slots=True)
class UnitRecord:
    """A normalised incoming unit. Fields that failed their check are None (and a problem was reported)."""

    code: str
    name: str | None
    level_code: str | None
    parent_code: str | None  # None: a root
    sector: str | None
    emails: list[str]
    active: bool
    cluster: str | None
    raw: RawUnit
    attributes: dict[str, Any] | None = None  # given by the file (None value: clear); absent keys keep theirs


@dataclass(frozen=True, slots=True)
class ExistingUnit:
    """A unit as stored."""

    id: int
    code: str
    name: str
    level_code: str
    parent_id: int | None
    sector: str | None
    emails: list[str]
    active: bool
    cluster: str | None
    path: str
    attributes: dict[str, Any] = field(default_factory=dict)


class Snapshot:
    """The stored units, indexed by code and by id."""

    def __init__(self, units: Iterable[ExistingUnit]):
        self.by_code: dict[str, ExistingUnit] = {unit.code: unit for unit in units}
        self.by_id: dict[int, ExistingUnit] = {unit.id: unit for unit in self.by_code.values()}

    @property
    def max_id(self) -> int:
        return max(self.by_id, default=0)

    def parent_code(self, unit: ExistingUnit) -> str | None:
        return None if unit.parent_id is None else self.by_id[unit.parent_id].code


@lru_cache(maxsize=4096)  # a file repeats the same few level and sector words many times
def _key(text: str) -> str:
    """Comparison key for free-typed words: NFC, case-insensitive, single spaces."""
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def _text(value: Any) -> str | None:
    """Stripped NFC text of a cell; None when empty. Whole floats from spreadsheets lose their '.0'."""
    if value.__class__ is str:  # fast path: nearly every cell
        text = value.strip()
        return (text if text.isascii() else unicodedata.normalize("NFC", text)) or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


_SECTOR_WORDS = {
    "sxkd": "sxkd",
    "sản xuất kinh doanh": "sxkd",
    "san xuat kinh doanh": "sxkd",
    "hcsn": "hcsn",
    "hành chính sự nghiệp": "hcsn",
    "hanh chinh su nghiep": "hcsn",
}


def parse_sector(value: Any) -> str | None:
    """'sxkd' | 'hcsn' | None (empty); ValueError for anything else."""
    text = _text(value)
    if text is None:
        return None
    sector = _SECTOR_WORDS.get(_key(text))
    if sector is None:
        raise ValueError(f"khu vực không hợp lệ: '{text}' (dùng sxkd hoặc hcsn)")
    return sector


_TRUE = {"có", "co", "x", "1", "true", "yes"}
_FALSE = {"không", "khong", "0", "false", "no"}


def parse_active(value: Any) -> bool:
    """Empty means active (the default); ValueError for an unknown word."""
    text = _text(value)
    if text is None:
        return True
    key = _key(text)
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise ValueError(f"giá trị hoạt động không hợp lệ: '{text}' (dùng có/không, x, 1/0, true/false)")


_EMAIL_SPLIT = re.compile(r"[;,\s]+")
normalize_email = checked_email  # the one syntax rule (models/emails.py); this name is kept for callers


def parse_emails(value: Any) -> tuple[list[str], list[str]]:
    """(valid addresses, error messages). One cell may hold several addresses separated by ; or ,."""
    if value is None:
        return [], []
    parts = value if isinstance(value, list) else [value]
    emails: list[str] = []
    errors: list[str] = []
    for part in parts:
        text = _text(part)
        for address in _EMAIL_SPLIT.split(text) if text else ():
            if not address:
                continue
            try:
                email = normalize_email(address)
            except ValueError as exc:
                errors.append(str(exc))
                continue
            if email not in emails:
                emails.append(email)
    return emails, errors


class LevelIndex:
    """Levels by code, and a resolver accepting code, name or short name in any case."""

    def __init__(self, levels: Iterable[LevelInfo]):
        self.by_code = {level.code: level for level in levels}
        self._words: dict[str, str] = {}
        for level in self.by_code.values():
            for word in (level.short_name, level.name, level.code):  # the code wins a clash
                if word:
                    self._words[_key(word)] = level.code

    def resolve(self, text: str) -> str | None:
        return self._words.get(_key(text))

    def rank(self, code: str) -> int:
        return self.by_code[code].rank

    def label(self, code: str) -> str:
        level = self.by_code.get(code)
        return level.label if level else code

    def describe(self) -> str:
        ordered = sorted(self.by_code.values(), key=lambda level: level.rank)
        return ", ".join(f"{level.code} ({level.label})" for level in ordered)


def _normalize_attributes(
    raw: RawUnit, schema: AttributeSchema | None, problems: list[Problem]
) -> dict[str, Any] | None:
    if raw.attributes is None:
        return None
    if not isinstance(raw.attributes, dict):
        problems.append(raw.problem("attributes", "phải là một nhóm khóa: giá trị (mã thuộc tính: giá trị)"))
        return None
    known = schema.by_code() if schema else {}
    out: dict[str, Any] = {}
    for key, value in raw.attributes.items():
        spec = known.get(key)
        if spec is None:
            where = f"có: {', '.join(known)}" if known else "chưa khai báo thuộc tính nào trong unit_attributes.yaml"
            problems.append(raw.problem(f"attributes.{key}", f"không có thuộc tính '{key}' ({where})"))
            continue
        try:
            out[key] = parse_attribute(spec, value)
        except ValueError as exc:
            problems.append(raw.problem(f"attributes.{key}", str(exc)))
    return out


def _normalize_one(
    raw: RawUnit, levels: LevelIndex, problems: list[Problem], schema: AttributeSchema | None = None
) -> UnitRecord | None:
    def text(name: str) -> str | None:
        value = getattr(raw, name)
        if value.__class__ in (list, dict):
            problems.append(raw.problem(name, "phải là một giá trị đơn, không phải danh sách hay nhóm khóa"))
            return None
        return _text(value)

    code = text("code")
    if code is None:
        problems.append(raw.problem("code", "thiếu mã đơn vị"))
    elif len(code) > _CODE_MAX or not _UNIT_CODE.match(code):
        problems.append(
            raw.problem("code", f"mã đơn vị không đúng dạng: '{code}' (chữ, số, '.', '_', '-'; tối đa 64 ký tự)")
        )
        code = None

    name = text("name")
    if name is None:
        problems.append(raw.problem("name", "thiếu tên đơn vị"))

    level_code = None
    level_text = text("level")
    if level_text is None:
        problems.append(raw.problem("level", "thiếu cấp đơn vị"))
    else:
        level_code = levels.resolve(level_text)
        if level_code is None:
            problems.append(raw.problem("level", f"cấp không tồn tại: '{level_text}' (các cấp: {levels.describe()})"))

    sector = None
    try:
        sector = parse_sector(text("sector"))
    except ValueError as exc:
        problems.append(raw.problem("sector", str(exc)))

    emails: list[str] = []
    if isinstance(raw.emails, dict):
        problems.append(raw.problem("emails", "phải là một địa chỉ hoặc danh sách địa chỉ e-mail"))
    else:
        emails, email_errors = parse_emails(raw.emails)
        problems.extend(raw.problem("emails", message) for message in email_errors)

    active = True
    try:
        active = parse_active(text("active"))
    except ValueError as exc:
        problems.append(raw.problem("active", str(exc)))

    cluster = text("cluster")
    if cluster is not None and len(cluster) > CLUSTER_MAX:
        problems.append(raw.problem("cluster", f"tên cụm/khối thi đua quá dài (tối đa {CLUSTER_MAX} ký tự)"))
        cluster = None

    attributes = _normalize_attributes(raw, schema, problems)
    if code is None:
        return None
    return UnitRecord(code, name, level_code, text("parent"), sector, emails, active, cluster, raw, attributes)


def normalize_units(
    raws: Iterable[RawUnit], levels: LevelIndex, schema: AttributeSchema | None = None
) -> tuple[list[UnitRecord], list[Problem]]:
    """Check each row on its own. Rows without a usable code yield no record (their problem is listed)."""
    problems: list[Problem] = []
    records = [record for raw in raws if (record := _normalize_one(raw, levels, problems, schema)) is not None]
    return records, problems


# ---------------------------------------------------------------------------------------------------
# Checks across rows and against the stored tree
# ---------------------------------------------------------------------------------------------------
def check_hierarchy(records: list[UnitRecord], snapshot: Snapshot, levels: LevelIndex) -> list[Problem]:
    """Duplicate codes, unknown parents, cycles and level order, over the tree as it would be after import.

    Units absent from the file keep their stored parent, so a cycle may run through stored units (moving a
    unit under its own descendant) and a changed level is checked against stored children too.
    """
    problems: list[Problem] = []
    incoming: dict[str, UnitRecord] = {}
    for record in records:
        first = incoming.get(record.code)
        if first is not None:
            where = f" (đã có ở dòng {first.raw.line})" if first.raw.line else ""
            problems.append(record.raw.problem("code", f"mã đơn vị '{record.code}' bị trùng{where}"))
        else:
            incoming[record.code] = record

    def parent_of(code: str) -> str | None:
        record = incoming.get(code)
        if record is not None:
            return record.parent_code
        stored = snapshot.by_code.get(code)
        return None if stored is None else snapshot.parent_code(stored)

    def level_of(code: str) -> str | None:
        record = incoming.get(code)
        return record.level_code if record is not None else snapshot.by_code[code].level_code

    resolvable: set[str] = set()  # codes whose parent exists (or that are roots)
    for code, record in incoming.items():
        parent = record.parent_code
        if parent is None:
            resolvable.add(code)
        elif parent == code:
            problems.append(record.raw.problem("parent", "đơn vị không thể là cấp trên của chính nó"))
        elif parent not in incoming and parent not in snapshot.by_code:
            problems.append(
                record.raw.problem(
                    "parent", f"đơn vị cấp trên '{parent}' không có trong tệp và chưa có trong cơ sở dữ liệu"
                )
            )
        else:
            resolvable.add(code)
    problems.extend(_cycle_problems(incoming, resolvable, parent_of))

    for code, record in incoming.items():
        parent = record.parent_code
        if code not in resolvable or parent is None or record.level_code is None:
            continue
        parent_level = level_of(parent)
        if parent_level is None or parent_level not in levels.by_code:
            continue
        if levels.rank(record.level_code) <= levels.rank(parent_level):
            problems.append(
                record.raw.problem(
                    "level",
                    f"cấp '{levels.label(record.level_code)}' phải thấp hơn cấp của đơn vị cấp trên "
                    f"'{parent}' ({levels.label(parent_level)})",
                )
            )
    problems.extend(_stored_children_problems(incoming, snapshot, levels))
    return problems


def _cycle_problems(
    incoming: dict[str, UnitRecord], resolvable: set[str], parent_of: Callable[[str], str | None]
) -> list[Problem]:
    """One problem per cycle, on the row of its first member in file order."""
    state: dict[str, int] = {}  # 1: on the current walk, 2: known to reach a root
    problems = []
    for start in incoming:
        walk: list[str] = []
        code: str | None = start
        while code is not None and state.get(code) is None:
            state[code] = 1
            walk.append(code)
            if code in incoming and code not in resolvable:
                code = None  # unknown parent, already reported
                break
            code = parent_of(code)
        if code is not None and state.get(code) == 1:
            cycle = walk[walk.index(code) :]
            members = [incoming[c] for c in cycle if c in incoming]
            first = min(members, key=lambda r: (r.raw.line or 0, r.raw.index))
            chain = " → ".join(cycle + [cycle[0]])
            problems.append(first.raw.problem("parent", f"vòng lặp cấp trên: {chain}"))
        for visited in walk:
            state[visited] = 2
    return problems


def _stored_children_problems(incoming: dict[str, UnitRecord], snapshot: Snapshot, levels: LevelIndex) -> list[Problem]:
    """A unit whose level changes must stay above the stored children that the file leaves in place."""
    changed: dict[int, tuple[UnitRecord, str]] = {}  # stored id -> (record, new level)
    for code, record in incoming.items():
        stored = snapshot.by_code.get(code)
        if stored is not None and record.level_code is not None and record.level_code != stored.level_code:
            changed[stored.id] = (record, record.level_code)
    if not changed:
        return []
    problems = []
    for child in snapshot.by_code.values():
        if child.parent_id not in changed or child.code in incoming or child.level_code not in levels.by_code:
            continue
        record, new_level = changed[child.parent_id]
        if levels.rank(child.level_code) <= levels.rank(new_level):
            problems.append(
                record.raw.problem(
                    "level",
                    f"cấp mới '{levels.label(new_level)}' không cao hơn cấp của đơn vị con "
                    f"'{child.code}' ({levels.label(child.level_code)}) đang có trong cơ sở dữ liệu",
                )
            )
    return problems


def validate_units(
    raws: Iterable[RawUnit], snapshot: Snapshot, levels: LevelIndex, schema: AttributeSchema | None = None
) -> list[UnitRecord]:
    """Every problem of the file at once (SpecError), or the normalised records."""
    records, problems = normalize_units(raws, levels, schema)
    problems += check_hierarchy(records, snapshot, levels)
    if problems:
        problems.sort(key=lambda p: p.line or 0)  # stable: within a row, the order of the checks
        raise SpecError(problems)
    return records


# ---------------------------------------------------------------------------------------------------
# Import plan
# ---------------------------------------------------------------------------------------------------
@dataclass
class ImportReport:
    """What an import did (or, for a dry run, would do), as unit codes in file order."""

    file: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # parent changed (other fields may have changed too)
    deactivated: list[str] = field(default_factory=list)  # absent from the file, --deactivate-missing
    unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "moved": len(self.moved),
            "deactivated": len(self.deactivated),
            "unchanged": len(self.unchanged),
        }

    @property
    def changed(self) -> int:
        return len(self.created) + len(self.updated) + len(self.moved) + len(self.deactivated)


@dataclass(frozen=True, slots=True)
class PathRewrite:
    """Replace the prefix `old` of every path in the range [old, subtree_upper_bound(old)) by `new`.

    `old` is the moved unit's path at the moment the rewrite runs (earlier rewrites may have changed it),
    so rewrites must run in plan order."""

    code: str
    old: str
    new: str

    @property
    def depth_delta(self) -> int:
        return (len(self.new) - len(self.old)) // SEGMENT_WIDTH


@dataclass(slots=True)
class UnitChange:
    """One audited change. A creation keeps its record and builds its audit values only when written."""

    action: str  # unit.create | unit.update | unit.move | unit.deactivate
    unit_id: int
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    record: UnitRecord | None = None


@dataclass
class ImportPlan:
    inserts: list[dict[str, Any]]  # unit rows, parents before children
    updates: list[dict[str, Any]]  # full new values of changed stored units (id included)
    rewrites: list[PathRewrite]  # moved subtrees, in execution order
    deactivate_ids: list[int]
    changes: list[UnitChange]
    report: ImportReport
    actor: str
    note: str
    now: datetime

    def audit_rows(self) -> Iterator[dict[str, Any]]:
        """Audit-log rows of every change, built one at a time (a national import has 130,000)."""
        for change in self.changes:
            after = change.after if change.record is None else _record_values(change.record)
            yield {
                "at": self.now,
                "actor": self.actor,
                "action": change.action,
                "entity": "unit",
                "entity_id": change.unit_id,
                "unit_id": change.unit_id,
                "before": change.before,
                "after": after,
                "note": self.note if change.action != "unit.deactivate" else f"không có trong tệp; {self.note}",
            }


def _stored_values(unit: ExistingUnit, snapshot: Snapshot) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "level_code": unit.level_code,
        "parent": snapshot.parent_code(unit),
        "sector": unit.sector,
        "emails": list(unit.emails),
        "active": unit.active,
        "cluster": unit.cluster,
        "attributes": dict(unit.attributes or {}),
    }


def _record_values(record: UnitRecord, stored: ExistingUnit | None = None) -> dict[str, Any]:
    return {
        "code": record.code,
        "name": record.name,
        "level_code": record.level_code,
        "parent": record.parent_code,
        "sector": record.sector,
        "emails": list(record.emails),
        "active": record.active,
        "cluster": record.cluster,
        "attributes": merged_attributes(stored.attributes if stored else None, record.attributes),
    }


def _differs(stored: ExistingUnit, record: UnitRecord, snapshot: Snapshot) -> bool:
    return (
        (
            record.attributes is not None
            and merged_attributes(stored.attributes, record.attributes) != (stored.attributes or {})
        )
        or stored.name != record.name
        or stored.level_code != record.level_code
        or stored.sector != record.sector
        or stored.emails != record.emails
        or stored.active != record.active
        or stored.cluster != record.cluster
        or snapshot.parent_code(stored) != record.parent_code
    )


class _FinalPaths:
    """Path of any unit in the tree after the import (file parents override stored ones)."""

    def __init__(self, incoming: Mapping[str, UnitRecord], ids: Mapping[str, int], snapshot: Snapshot):
        self._incoming = incoming
        self._ids = ids
        self._snapshot = snapshot
        self._memo: dict[str, str] = {}

    def _parent(self, code: str) -> str | None:
        record = self._incoming.get(code)
        if record is not None:
            return record.parent_code
        return self._snapshot.parent_code(self._snapshot.by_code[code])

    def __call__(self, code: str) -> str:
        chain = []
        current: str | None = code
        while current is not None and current not in self._memo:
            chain.append(current)
            current = self._parent(current)
        path = "" if current is None else self._memo[current]
        for member in reversed(chain):
            path = child_path(path, self._ids[member])
            self._memo[member] = path
        return self._memo[code]


def _current_path(path: str, applied: list[PathRewrite]) -> str:
    """Where an earlier rewrite has put a stored path (the rewrites change it in this order)."""
    for rewrite in applied:
        if path.startswith(rewrite.old):
            path = rewrite.new + path[len(rewrite.old) :]
    return path


def plan_import(
    records: list[UnitRecord],
    snapshot: Snapshot,
    *,
    now: datetime,
    actor: str,
    deactivate_missing: bool = False,
    file: str = "",
) -> ImportPlan:
    """Upsert by code. Records must come from `validate_units` (no problems left).

    Stored units absent from the file are never deleted; with `deactivate_missing` the active ones below
    the file's roots (file units whose parent is not in the file) are deactivated."""
    incoming = {record.code: record for record in records}
    ids: dict[str, int] = {code: unit.id for code, unit in snapshot.by_code.items()}
    next_id = snapshot.max_id + 1
    for record in records:
        if record.code not in ids:
            ids[record.code] = next_id
            next_id += 1
    if next_id - 1 > MAX_UNIT_ID:
        raise SpecError([Problem(file, None, "", f"vượt quá số đơn vị tối đa ({fmt_integer(MAX_UNIT_ID)})")])
    final_path = _FinalPaths(incoming, ids, snapshot)
    report = ImportReport(file=file)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    moved: list[tuple[ExistingUnit, str]] = []
    changes: list[UnitChange] = []

    for record in records:
        stored = snapshot.by_code.get(record.code)
        if stored is not None and not _differs(stored, record, snapshot):
            report.unchanged.append(record.code)
            continue
        unit_id = ids[record.code]
        path = final_path(record.code)
        row = {
            "id": unit_id,
            "code": record.code,
            "name": record.name,
            "level_code": record.level_code,
            "parent_id": None if record.parent_code is None else ids[record.parent_code],
            "sector": record.sector,
            "emails": list(record.emails),
            "active": record.active,
            "cluster": record.cluster,
            "attributes": merged_attributes(stored.attributes if stored else None, record.attributes),
            "path": path,
            "depth": path_depth(path),
            "updated_at": now,
        }
        if stored is None:
            inserts.append(row)
            report.created.append(record.code)
            changes.append(UnitChange("unit.create", unit_id, None, None, record))
            continue
        updates.append(row)
        before, after = _stored_values(stored, snapshot), _record_values(record, stored)
        diff = [key for key in before if before[key] != after[key]]
        is_move = "parent" in diff
        (report.moved if is_move else report.updated).append(record.code)
        if is_move:
            moved.append((stored, path))
        changes.append(
            UnitChange(
                "unit.move" if is_move else "unit.update",
                unit_id,
                {"code": record.code, **{key: before[key] for key in diff}},
                {"code": record.code, **{key: after[key] for key in diff}},
            )
        )

    rewrites: list[PathRewrite] = []
    for stored, new_path in sorted(moved, key=lambda item: (len(item[0].path), item[0].path)):
        rewrites.append(PathRewrite(stored.code, _current_path(stored.path, rewrites), new_path))

    deactivate_ids: list[int] = []
    if deactivate_missing:
        for unit in _stored_below_file_units(incoming, snapshot):
            deactivate_ids.append(unit.id)
            report.deactivated.append(unit.code)
            changes.append(
                UnitChange(
                    "unit.deactivate",
                    unit.id,
                    {"code": unit.code, "active": True},
                    {"code": unit.code, "active": False},
                )
            )

    inserts.sort(key=lambda row: row["depth"])  # parents first (foreign key)
    note = f"nhập từ tệp {file}" if file else "nhập danh sách đơn vị"
    return ImportPlan(inserts, updates, rewrites, deactivate_ids, changes, report, actor, note, now)


def _stored_below_file_units(incoming: Mapping[str, UnitRecord], snapshot: Snapshot) -> Iterator[ExistingUnit]:
    """Active stored units absent from the file with an ancestor in the file (which lies below a root of
    the file). Parents come before children in path order, so one pass settles every unit."""
    below: set[int] = set()
    file_ids = {snapshot.by_code[code].id for code in incoming if code in snapshot.by_code}
    for unit in sorted(snapshot.by_code.values(), key=lambda u: u.path):
        if unit.code in incoming or unit.parent_id is None:
            continue
        if unit.parent_id in file_ids or unit.parent_id in below:
            below.add(unit.id)
            if unit.active:
                yield unit
