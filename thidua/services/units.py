"""Unit hierarchy adapters: reading unit and level files, the bulk upsert, and set-based tree queries.

Rules live in models.hierarchy; this module only reads files, loads what is stored, and executes plans
through SQLAlchemy Core executemany (the ORM is ~15x slower for 130,000 rows).

Tree queries for other modules (roll-ups):
    subtree_clause(path)       WHERE condition selecting a unit and its descendants (uses ix_unit_path)
    subtree_ids(session, id)   ids of a unit and its descendants
    children(session, id)      direct children
    ancestors(session, id)     the parent chain, root first
    ancestor_at_level(...)     the ancestor (or self) of a given level
    ancestor_prefix(depth)     substr(path, 1, path_prefix_len(depth)): GROUP BY the ancestor at a depth
    ancestor_id_at(depth)      the id of the ancestor at a depth, as an integer expression
    level_depths(session, lv)  the depths where units of a level sit, to feed ancestor_id_at
Functions taking a unit id raise LookupError when no unit has it.
"""

from __future__ import annotations

import csv
import gc
import io
import pickle
import zlib
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TypeVar

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from thidua.audit import audit_many
from thidua.errors import InvalidInputError
from thidua.models.attributes import AttributeSchema, merged_attributes
from thidua.models.clock import utcnow
from thidua.models.hierarchy import (  # the underscored names: the rules the streamed import shares
    FIELDS,
    MAX_UNIT_ID,
    ExistingUnit,
    ImportPlan,
    ImportReport,
    LevelIndex,
    LevelInfo,
    RawUnit,
    RowSource,
    Snapshot,
    UnitRecord,
    _FinalPaths,
    _normalize_one,
    _record_values,
    check_hierarchy,
    child_path,
    levels_from_file,
    path_depth,
    path_ids,
    path_prefix_len,
    plan_import,
    rank_conflicts,
    subtree_range,
    subtree_upper_bound,
    validate_units,
)
from thidua.models.nominations import NominationQuotaCount
from thidua.models.sheet_headers import map_header
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.validate import validate_doc
from thidua.models.spec.yamlsource import parse_yaml
from thidua.models.tables import Level, Unit
from thidua.models.vnformat import fmt_integer
from thidua.services.campaign_file import read_levels_file
from thidua.services.lookup import find_unit
from thidua.settings import CONFIG_DIR, get_settings
from thidua.sources import MAX_TEXT_FILE_BYTES, read_text_file

__all__ = [
    "DEFAULT_LEVELS_FILE",
    "LevelsReport",
    "load_levels",
    "read_unit_file",
    "import_units",
    "import_raw_units",
    "ImportReport",
    "load_snapshot",
    "load_level_index",
    "get_unit",
    "subtree_clause",
    "subtree_ids",
    "children",
    "ancestors",
    "ancestor_at_level",
    "ancestor_prefix",
    "ancestor_id_at",
    "level_depths",
    "path_prefix_len",
    "subtree_level_counts",
]

DEFAULT_LEVELS_FILE = CONFIG_DIR / "levels.yaml"
DEFAULT_ACTOR = "system:nhap-don-vi"
T = TypeVar("T")
UNIT = Unit.__table__
LEVEL = Level.__table__


# ---------------------------------------------------------------------------------------------------
# Levels
# ---------------------------------------------------------------------------------------------------
@dataclass
class LevelsReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # only levels no unit uses
    unchanged: list[str] = field(default_factory=list)


def load_levels(engine: Engine, path: Path | None = None, *, actor: str = DEFAULT_ACTOR) -> LevelsReport:
    """Upsert the Level table from a levels file (rank = position in the file).

    A level missing from the file is removed when no unit uses it, and refused otherwise; new ranks that
    would put a stored unit at or above its parent's level are refused too. Nothing changes on SpecError."""
    path = Path(path) if path is not None else get_settings().config_dir / "levels.yaml"
    file = str(path)
    doc, spec = read_levels_file(path)
    problems: list[Problem] = []
    wanted = {level.code: level for level in levels_from_file(spec)}
    report = LevelsReport()
    with Session(engine) as session, session.begin():
        stored = {row.code: row for row in session.execute(select(LEVEL)).all()}
        in_use = dict(session.execute(select(UNIT.c.level_code, func.count()).group_by(UNIT.c.level_code)).all())
        for code in stored.keys() - wanted.keys():
            if in_use.get(code):
                problems.append(
                    Problem(
                        file,
                        doc.line_of(("levels",)),
                        "levels",
                        f"cấp '{code}' đang được {in_use[code]} đơn vị sử dụng, không thể bỏ khỏi tệp",
                    )
                )
        child = aliased(UNIT)
        edges = session.execute(
            select(UNIT.c.level_code, child.c.level_code, func.count())
            .join(child, child.c.parent_id == UNIT.c.id)
            .where(child.c.active.is_(True))  # an ended unit is kept under its successor, whatever its level
            .group_by(UNIT.c.level_code, child.c.level_code)
        ).all()
        for parent, child_level, count in rank_conflicts(edges, {c: lv.rank for c, lv in wanted.items()}):
            problems.append(
                Problem(
                    file,
                    doc.line_of(("levels",)),
                    "levels",
                    f"thứ tự mới đặt cấp '{child_level}' không thấp hơn cấp '{parent}', "
                    f"trong khi {count} đơn vị cấp '{child_level}' đang trực thuộc đơn vị cấp '{parent}'",
                )
            )
        if problems:
            raise SpecError(problems)

        audit_rows = []
        for code, level in wanted.items():
            values = {
                "code": code,
                "name": level.name,
                "short_name": level.short_name,
                "rank": level.rank,
                "valid_from": level.valid_from,
                "valid_to": level.valid_to,
            }
            old = stored.get(code)
            if old is None:
                session.execute(insert(LEVEL).values(**values))
                report.created.append(code)
                audit_rows.append(_level_audit(actor, "level.create", code, None, values))
            elif (old.name, old.short_name, old.rank, old.valid_from, old.valid_to) != (
                level.name,
                level.short_name,
                level.rank,
                level.valid_from,
                level.valid_to,
            ):
                session.execute(update(LEVEL).where(LEVEL.c.code == code).values(**values))
                report.updated.append(code)
                audit_rows.append(_level_audit(actor, "level.update", code, dict(old._mapping), values))
            else:
                report.unchanged.append(code)
        for code in sorted(stored.keys() - wanted.keys()):
            session.execute(delete(LEVEL).where(LEVEL.c.code == code))
            report.removed.append(code)
            audit_rows.append(_level_audit(actor, "level.delete", code, dict(stored[code]._mapping), None))
        audit_many(session, audit_rows)
    return report


def _level_audit(actor: str, action: str, code: str, before: Any, after: Any) -> dict[str, Any]:
    return {"actor": actor, "action": action, "entity": "level", "entity_id": code, "before": before, "after": after}


def load_level_index(session: Session) -> LevelIndex:
    return LevelIndex(
        LevelInfo(row.code, row.name, row.short_name, row.rank, row.valid_from, row.valid_to)
        for row in session.execute(select(LEVEL)).all()
    )


# ---------------------------------------------------------------------------------------------------
# Reading unit files
# ---------------------------------------------------------------------------------------------------
# Spreadsheet headers: the ascii code and the Vietnamese label of each field (case-insensitive).
COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("ma_don_vi", "Mã đơn vị"),
    "name": ("ten_don_vi", "Tên đơn vị"),
    "level": ("cap", "Cấp"),
    "parent": ("ma_cap_tren", "Mã đơn vị cấp trên"),
    "sector": ("khu_vuc", "Khu vực"),
    "emails": ("email", "E-mail", "emails"),
    "active": ("hoat_dong", "Hoạt động"),
    "cluster": ("cum_thi_dua", "Cụm/khối thi đua", "Cụm thi đua", "Khối thi đua"),
}
# The parent column is required: without it every unit would silently become a root.
REQUIRED_COLUMNS = ("code", "name", "level", "parent")


def load_attribute_schema(path: Path | None = None) -> AttributeSchema:
    """config/unit_attributes.yaml (none declared when the file is absent); read again only when it changes."""
    path = path or get_settings().config_dir / "unit_attributes.yaml"
    if not path.exists():
        return AttributeSchema()
    return _attribute_schema(str(path), path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _attribute_schema(path: str, mtime_ns: int) -> AttributeSchema:
    return validate_doc(parse_yaml(_read_text(Path(path)), path), AttributeSchema)


def read_unit_file(path: Path | str, schema: AttributeSchema | None = None) -> tuple[list[RawUnit], list[Problem]]:
    """Rows of a unit file (.yaml/.yml, .csv, .xlsx: its first sheet) and the problems of its structure.
    Columns (or the YAML key 'attributes') may carry the unit attributes declared in `schema`.

    FileNotFoundError propagates; every other defect is a located Problem."""
    schema = schema if schema is not None else load_attribute_schema()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "không tìm thấy tệp", str(path))
    if not path.is_file():
        return [], [Problem(str(path), None, "", "đây là một thư mục, không phải một tệp")]
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            return _read_yaml(path)
        if suffix == ".csv":
            return _read_csv(path, schema)
        if suffix in (".xlsx", ".xlsm"):
            return _read_xlsx(path, schema)
    except PermissionError:
        return [], [Problem(str(path), None, "", "không có quyền đọc tệp")]
    return [], [Problem(str(path), None, "", "định dạng tệp không được hỗ trợ (dùng .yaml, .csv hoặc .xlsx)")]


def _read_text(path: Path) -> str:
    """UTF-8 text of a YAML file; SpecError when it is not UTF-8."""
    return read_text_file(path)


def _read_yaml(path: Path) -> tuple[list[RawUnit], list[Problem]]:
    file = str(path)
    doc = parse_yaml(_read_text(path), file)
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("units"), list):
        return [], [Problem(file, 1, "units", "tệp phải có khóa 'units' là danh sách các đơn vị")]
    problems = [doc.problem((key,), "khóa không được phép (chỉ dùng 'units')") for key in doc.data if key != "units"]
    keys = (*FIELDS, "attributes")
    labels = {name: name for name in keys}
    for item in doc.data["units"]:
        if isinstance(item, dict) and isinstance(item.get("attributes"), dict):
            labels.update({f"attributes.{key}": f"attributes.{key}" for key in item["attributes"]})
    source = RowSource(file, labels, "units[{index}].")
    raws = []
    for index, item in enumerate(doc.data["units"]):
        if not isinstance(item, dict):
            problems.append(doc.problem(("units", index), "mỗi đơn vị phải là một nhóm khóa: giá trị"))
            continue
        for key in item.keys() - set(keys):
            problems.append(doc.problem(("units", index, key), f"khóa không được phép (dùng: {', '.join(keys)})"))
        field_lines = {key: doc.lines[("units", index, key)] for key in item if key in keys}
        if isinstance(item.get("attributes"), dict):
            field_lines.update(
                {f"attributes.{key}": doc.lines[("units", index, "attributes", key)] for key in item["attributes"]}
            )
        values = {key: value for key, value in item.items() if key in keys}
        raws.append(RawUnit(source, doc.lines[("units", index)], index, field_lines=field_lines, **values))
    return raws, problems


MAX_CSV_FIELD = 2_000  # a unit's name or address; a longer cell is a broken or hostile file


def _read_csv(path: Path, schema: AttributeSchema) -> tuple[list[RawUnit], list[Problem]]:
    file = str(path)
    try:
        text = read_text_file(path)  # located: not UTF-8, a folder, too large
    except SpecError as exc:
        return [], exc.problems
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        return [], [Problem(file, line, "", "tệp chứa ký tự NUL (mã 0): tệp bị hỏng hoặc không phải tệp CSV")]
    first = text.split("\n", 1)[0]
    # Excel in Vietnamese locales saves CSV with ';' or tabs: the header line tells which.
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Iterable[list[str]]:
        while True:
            start = reader.line_num + 1  # the line the next row begins on
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:  # a field beyond csv's own limit (131,072 characters)
                raise _CsvCellTooLong(start, None, None) from None
            for index, cell in enumerate(row):
                if len(cell) > MAX_CSV_FIELD:
                    raise _CsvCellTooLong(start, index + 1, len(cell))
                if "\n" in cell:  # a quote opened and never closed swallows the following lines
                    raise _CsvCellTooLong(
                        start, index + 1, None, 'ô có xuống dòng: thường do thiếu dấu nháy đóng (") ở dòng này'
                    )
            yield row

    try:
        return _read_table(rows(), file, schema)
    except _CsvCellTooLong as exc:
        if exc.reason:
            return [], [Problem(file, exc.line, f"cột {exc.column}", exc.reason)]
        if exc.length is None:
            return [], [
                Problem(
                    file,
                    exc.line,
                    "",
                    f"dòng CSV không đọc được: một ô dài quá {MAX_CSV_FIELD:,} ký tự".replace(",", ".")
                    + ', thường do thiếu dấu nháy đóng (") ở dòng này',
                )
            ]
        return [], [
            Problem(
                file,
                exc.line,
                f"cột {exc.column}",
                f"ô dài {exc.length:,} ký tự, quá {MAX_CSV_FIELD:,} ký tự cho phép".replace(",", "."),
            )
        ]


class _CsvCellTooLong(InvalidInputError):
    def __init__(self, line: int, column: int | None, length: int | None, reason: str = ""):
        self.line, self.column, self.length, self.reason = line, column, length, reason


def _read_xlsx(path: Path, schema: AttributeSchema) -> tuple[list[RawUnit], list[Problem]]:
    from thidua.xlsx_guard import XlsxRefused, first_sheet_rows

    file = str(path)
    try:
        return _read_table((values for _, values in first_sheet_rows(path)), file, schema)
    except XlsxRefused as exc:  # merged cells are read; formulas without values, bombs, hidden data are not
        return [], [Problem(file, exc.row, exc.where or "", exc.message)]


def _read_table(
    rows: Iterable[Sequence[Any]], file: str, schema: AttributeSchema | None = None
) -> tuple[list[RawUnit], list[Problem]]:
    """Header row (row 1) then one unit per row; wholly empty rows are skipped. Columns named after a declared
    attribute (its code, label or extra column names) fill that attribute; an empty cell clears it."""
    problems: list[Problem] = []
    return list(_iter_table(rows, file, schema, problems)), problems


def _iter_table(
    rows: Iterable[Sequence[Any]], file: str, schema: AttributeSchema | None, problems: list[Problem]
) -> Iterator[RawUnit]:
    """`_read_table`, one row at a time: yields the units, appends the problems to `problems` (a header problem
    yields nothing)."""
    attribute_headers = schema.headers() if schema else {}
    iterator = iter(rows)
    header = next(iterator, None)
    if header is None:
        problems.append(Problem(file, None, "", "tệp rỗng: cần dòng tiêu đề và danh sách đơn vị"))
        return
    header_map = map_header(
        header,
        file,
        COLUMNS,
        REQUIRED_COLUMNS,
        extra=lambda key: f"attributes.{attribute_headers[key]}" if key in attribute_headers else None,
    )
    columns, labels = header_map.columns, header_map.labels
    if header_map.problems:
        problems.extend(header_map.problems)
        return
    source = RowSource(file, labels)
    attribute_columns = {
        index: name[len("attributes.") :] for index, name in columns.items() if name.startswith("attributes.")
    }
    count = 0
    for row_number, row in enumerate(iterator, start=2):
        values: dict[str, Any] = {}
        for index, cell in enumerate(row):
            if cell is None or cell == "":
                continue
            if index in attribute_columns:
                continue
            if index in columns:
                values[columns[index]] = cell
            else:  # data under no header would be silently lost
                problems.append(
                    Problem(file, row_number, f"cột {index + 1}", "ô có dữ liệu nhưng cột không có tiêu đề")
                )
        if values:
            if attribute_columns:  # an attribute column present in the file: its empty cells clear the value
                values["attributes"] = {
                    code: (row[i] if i < len(row) and row[i] != "" else None) for i, code in attribute_columns.items()
                }
            yield RawUnit(source, row_number, count, **values)
            count += 1


# ---------------------------------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------------------------------
def load_snapshot(session: Session) -> Snapshot:
    columns = [UNIT.c[f.name] for f in fields(ExistingUnit)]
    return Snapshot(ExistingUnit(*row) for row in session.execute(select(*columns)))


def import_units(
    engine: Engine,
    path: Path | str,
    *,
    deactivate_missing: bool = False,
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> ImportReport:
    """Import a unit file: upsert by code in one transaction, audited. SpecError lists every problem of
    the file and leaves the database as it was. Units absent from the file are never deleted.

    A CSV file of new units (the national tree, the usual first import) is streamed (`_import_new_csv`);
    any other file, or a CSV file that updates stored units, is read whole."""
    if Path(path).suffix.lower() == ".csv" and not deactivate_missing:
        with _gc_paused():
            report = _import_new_csv(engine, Path(path), dry_run=dry_run, actor=actor, now=now)
        if report is not None:
            return report
    with _gc_paused():
        raws, problems = read_unit_file(path)
        return import_raw_units(
            engine,
            raws,
            file=str(path),
            problems=problems,
            deactivate_missing=deactivate_missing,
            dry_run=dry_run,
            actor=actor,
            now=now,
        )


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: building ~10 objects per unit for 130,000 units triggers
    repeated full collections that cost seconds (about a third of the import, measured). The objects
    hold no cycles, so reference counting frees them anyway."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_raw_units(
    engine: Engine,
    raws: list[RawUnit],
    *,
    file: str,
    problems: Sequence[Problem] = (),
    deactivate_missing: bool = False,
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
    now: datetime | None = None,
) -> ImportReport:
    """As import_units, for rows already read (`problems`: those found while reading them)."""
    now = now or utcnow()
    with _gc_paused(), Session(engine) as session, session.begin():
        if not dry_run:
            _lock_units(session)
        levels = load_level_index(session)
        if not levels.by_code:
            missing = Problem(file, None, "", "chưa có danh mục cấp trong cơ sở dữ liệu (chạy: thidua units levels)")
            raise SpecError([*problems, missing])
        snapshot = load_snapshot(session)
        try:
            records = validate_units(raws, snapshot, levels, load_attribute_schema())
        except SpecError as exc:
            raise SpecError(sorted([*problems, *exc.problems], key=lambda p: p.line or 0)) from None
        if problems:
            raise SpecError(problems)
        plan = plan_import(records, snapshot, now=now, actor=actor, deactivate_missing=deactivate_missing, file=file)
        if dry_run:
            plan.report.dry_run = True
        else:
            _execute(session, plan)
    return plan.report


def _lock_units(session: Session) -> None:
    """Serialise imports: ids and paths are computed from the snapshot read next."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE unit IN SHARE ROW EXCLUSIVE MODE"))
    else:
        # SQLite: a write statement (even one touching no row) takes the database write lock now.
        session.execute(update(UNIT).where(literal(False)).values(id=UNIT.c.id))


_REWRITE = (
    update(UNIT)
    .where(UNIT.c.path >= bindparam("b_old"), UNIT.c.path < bindparam("b_upper"))
    .values(
        path=bindparam("b_new", type_=String) + func.substr(UNIT.c.path, bindparam("b_cut", type_=Integer)),
        depth=UNIT.c.depth + bindparam("b_delta", type_=Integer),
        updated_at=bindparam("b_now", type_=UNIT.c.updated_at.type),
    )
)
_UPDATE_FIELDS = (
    "name",
    "level_code",
    "parent_id",
    "sector",
    "emails",
    "active",
    "cluster",
    "attributes",
    "path",
    "depth",
    "updated_at",
)
_UPDATE = (
    update(UNIT)
    .where(UNIT.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}", type_=UNIT.c[name].type) for name in _UPDATE_FIELDS})
)
_DEACTIVATE = update(UNIT).where(UNIT.c.id == bindparam("b_id")).values(active=False, updated_at=bindparam("b_now"))


CHUNK = 10_000
STREAM_CHUNK = 2_000  # rows per executemany of the streamed import (with their audit rows)


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _execute(session: Session, plan: ImportPlan) -> None:
    """Apply a plan: new units, moved subtrees (range updates, in plan order), changed units,
    deactivations, then the audit rows, each as Core executemany in chunks (the driver and the audit
    keep a processed copy of every parameter set: unchunked, 130,000 units cost ~400 MB more)."""
    conn, now = session.connection(), plan.now
    for chunk in _chunks(plan.inserts):
        conn.execute(insert(UNIT), chunk)
    if plan.rewrites:
        conn.execute(
            _REWRITE,
            [
                {
                    "b_old": r.old,
                    "b_upper": subtree_upper_bound(r.old),
                    "b_new": r.new,
                    "b_cut": len(r.old) + 1,
                    "b_delta": r.depth_delta,
                    "b_now": now,
                }
                for r in plan.rewrites
            ],
        )
    for chunk in _chunks(plan.updates):
        conn.execute(_UPDATE, [{"b_id": row["id"], **{f"b_{n}": row[n] for n in _UPDATE_FIELDS}} for row in chunk])
    for chunk in _chunks(plan.deactivate_ids):
        conn.execute(_DEACTIVATE, [{"b_id": unit_id, "b_now": now} for unit_id in chunk])
    if plan.rewrites or plan.updates:  # parents or levels may have changed: quota subtrees are counted again
        conn.execute(NominationQuotaCount.__table__.delete())  # type: ignore[attr-defined]
    audit_rows = plan.audit_rows()
    while chunk := list(islice(audit_rows, CHUNK)):
        audit_many(session, chunk)
    if plan.inserts and conn.dialect.name == "postgresql":
        # Ids were assigned here, so the serial sequence must catch up for inserts made elsewhere.
        conn.execute(text("SELECT setval(pg_get_serial_sequence('unit', 'id'), (SELECT max(id) FROM unit))"))


# ---------------------------------------------------------------------------------------------------
# Streaming import of new units from a CSV file (issue 17: the national tree in bounded memory)
# ---------------------------------------------------------------------------------------------------
class _NotStreamable(InvalidInputError):
    """Internal (never escapes `_import_new_csv`): the file needs the whole-file reader, which words the
    problem of a broken file."""


class _SlimRecord:
    """What the checks across rows need of one row (code, parent, level, where): a few dozen bytes, where a
    full row with its name, addresses and raw cells costs about a kilobyte. Stands in for UnitRecord and for
    its RawUnit (`raw`) in `check_hierarchy` and `_FinalPaths`."""

    __slots__ = ("code", "parent_code", "level_code", "line", "index", "source")

    def __init__(
        self, code: str, parent_code: str | None, level_code: str | None, line: int, index: int, source: RowSource
    ) -> None:
        self.code, self.parent_code, self.level_code = code, parent_code, level_code
        self.line, self.index, self.source = line, index, source

    @property
    def raw(self) -> "_SlimRecord":
        return self

    def problem(self, name: str, message: str) -> Problem:
        return Problem(self.source.file, self.line, self.source.labels.get(name, name), message)


def _stream_csv_rows(path: Path) -> Iterator[list[str]]:
    """Rows of a CSV file read line by line; _NotStreamable at anything the whole-file reader reports."""
    if path.stat().st_size > MAX_TEXT_FILE_BYTES:
        raise _NotStreamable()
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
            delimiter = max((",", ";", "\t"), key=first.rstrip("\r\n").count)
            handle.seek(0)
            if handle.read(1) != "\ufeff":
                handle.seek(0)
            for row in csv.reader(handle, delimiter=delimiter):
                joined = "".join(row)
                if "\n" in joined or "\x00" in joined or (row and max(map(len, row)) > MAX_CSV_FIELD):
                    raise _NotStreamable()
                yield row
    except (UnicodeDecodeError, csv.Error, OSError):
        raise _NotStreamable() from None


def _new_csv_units(
    path: Path, schema: AttributeSchema, levels: LevelIndex, problems: list[Problem]
) -> Iterator[tuple[RawUnit, UnitRecord | None]]:
    for raw in _iter_table(_stream_csv_rows(path), str(path), schema, problems):
        yield raw, _normalize_one(raw, levels, problems, schema)


def _import_new_csv(
    engine: Engine, path: Path, *, dry_run: bool, actor: str, now: datetime | None
) -> ImportReport | None:
    """Import a CSV file whose units are all new, streamed, in one transaction: every row is checked as it is
    read, keeping for the checks across rows only code, parent, level and row of each unit, and its checked
    values packed (pickled and compressed, 2,000 rows a block: ~1/10 of them as objects); then the tree is
    checked and the blocks inserted, parents before children, in chunks (Core executemany) with their audit
    rows. None when the file needs `import_raw_units` (it is broken in a way that reader reports, or it changes
    stored units)."""
    file, now = str(path), now or utcnow()
    if not path.is_file():
        return None
    schema = load_attribute_schema()
    try:
        with Session(engine) as session, session.begin():
            if not dry_run:
                _lock_units(session)
            levels = load_level_index(session)
            if not levels.by_code:
                return None
            snapshot = load_snapshot(session)
            problems: list[Problem] = []
            slim: list[_SlimRecord] = []
            codes: dict[str, str] = {}  # one string object per code, shared by the children naming it
            blocks: list[bytes] = []
            block: list[tuple[Any, ...]] = []
            for raw, record in _new_csv_units(path, schema, levels, problems):
                if record is None:
                    continue
                if record.code in snapshot.by_code:
                    return None  # updates and moves: the whole-file path
                code = codes.setdefault(record.code, record.code)
                parent = (
                    None if record.parent_code is None else codes.setdefault(record.parent_code, record.parent_code)
                )
                slim.append(_SlimRecord(code, parent, record.level_code, raw.line or 0, raw.index, raw.source))
                block.append(
                    (
                        record.code,
                        record.name,
                        record.level_code,
                        record.parent_code,
                        record.sector,
                        record.emails,
                        record.active,
                        record.cluster,
                        record.attributes,
                    )
                )
                if len(block) >= STREAM_CHUNK:
                    blocks.append(zlib.compress(pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL), 1))
                    block = []
            if block:
                blocks.append(zlib.compress(pickle.dumps(block, protocol=pickle.HIGHEST_PROTOCOL), 1))
            del block
            problems += check_hierarchy(slim, snapshot, levels)  # type: ignore[arg-type]
            if problems:
                raise SpecError(sorted(problems, key=lambda p: p.line or 0))
            del codes
            first_id = snapshot.max_id + 1
            if first_id + len(slim) - 1 > MAX_UNIT_ID:
                raise SpecError([Problem(file, None, "", f"vượt quá số đơn vị tối đa ({fmt_integer(MAX_UNIT_ID)})")])
            # New ids in file order; paths are kept for the units that have children only (a few per thousand).
            parents = {item.parent_code for item in slim if item.parent_code is not None}
            ids = {item.code: first_id + k for k, item in enumerate(slim) if item.code in parents}
            ids.update((code, snapshot.by_code[code].id) for code in parents if code in snapshot.by_code)
            incoming = {item.code: item for item in slim if item.code in parents}
            paths = _FinalPaths(incoming, ids, snapshot)  # type: ignore[arg-type]
            paths._memo.update((code, snapshot.by_code[code].path) for code in parents if code in snapshot.by_code)
            parent_paths = {code: paths(code) for code in parents}
            report = ImportReport(file=file, created=[item.code for item in slim], dry_run=dry_run)
            del slim, incoming, paths
            if dry_run:
                return report
            _insert_streamed(
                session,
                blocks,
                first_id,
                ids,
                parent_paths,
                set(snapshot.by_code),
                now=now,
                actor=actor,
                note=f"nhập từ tệp {file}",
            )
    except _NotStreamable:
        return None
    return report


def _insert_streamed(
    session: Session,
    blocks: list[bytes],
    first_id: int,
    parent_ids: dict[str, int],
    parent_paths: dict[str, str],
    stored: set[str],
    *,
    now: datetime,
    actor: str,
    note: str,
) -> None:
    """The checked rows, block by block (the k-th unit gets id first_id + k), inserted in chunks once its parent
    is in (a child listed before its parent waits for it), each chunk with its audit rows."""
    conn = session.connection()
    placed: set[str] = {code for code in parent_paths if code in stored}  # parents already in the database
    waiting: dict[str, list[tuple[dict[str, Any], UnitRecord]]] = defaultdict(list)
    chunk: list[tuple[dict[str, Any], UnitRecord]] = []

    def flush() -> None:
        if chunk:
            conn.execute(insert(UNIT), [row for row, _ in chunk])
            audit_many(
                session,
                [
                    {
                        "at": now,
                        "actor": actor,
                        "action": "unit.create",
                        "entity": "unit",
                        "entity_id": row["id"],
                        "unit_id": row["id"],
                        "before": None,
                        "after": _record_values(record),
                        "note": note,
                    }
                    for row, record in chunk
                ],
            )
            chunk.clear()

    def place(row: dict[str, Any], record: UnitRecord) -> None:
        ready = [(row, record)]
        while ready:
            row, record = ready.pop()
            chunk.append((row, record))
            if record.code in parent_paths:
                placed.add(record.code)
                ready.extend(waiting.pop(record.code, ()))
        if len(chunk) >= STREAM_CHUNK:
            flush()

    inserted = 0

    def records() -> Iterator[UnitRecord]:
        for index, packed in enumerate(blocks):
            blocks[index] = b""  # each block freed once unpacked
            for code, name, level, parent, sector, emails, active, cluster, attributes in pickle.loads(
                zlib.decompress(packed)
            ):
                yield UnitRecord(code, name, level, parent, sector, emails, active, cluster, None, attributes)  # type: ignore[arg-type]

    for record in records():
        unit_id = first_id + inserted
        assert parent_ids.get(record.code, unit_id) == unit_id
        parent = record.parent_code
        unit_path = child_path("" if parent is None else parent_paths[parent], unit_id)
        row = {
            "id": unit_id,
            "code": record.code,
            "name": record.name,
            "level_code": record.level_code,
            "parent_id": None if parent is None else parent_ids[parent],
            "sector": record.sector,
            "emails": list(record.emails),
            "active": record.active,
            "cluster": record.cluster,
            "attributes": merged_attributes(None, record.attributes),
            "path": unit_path,
            "depth": path_depth(unit_path),
            "updated_at": now,
        }
        inserted += 1
        if record.parent_code is None or record.parent_code in placed:
            place(row, record)
        else:
            waiting[record.parent_code].append((row, record))
    flush()
    assert not waiting  # check_hierarchy: every parent exists, no cycle
    if inserted and conn.dialect.name == "postgresql":
        conn.execute(text("SELECT setval(pg_get_serial_sequence('unit', 'id'), (SELECT max(id) FROM unit))"))


# ---------------------------------------------------------------------------------------------------
# Tree queries (set-based: one statement each, no recursion in Python)
# ---------------------------------------------------------------------------------------------------
def get_unit(session: Session, code: str) -> Unit | None:
    return find_unit(session, code)


def subtree_clause(path: str, column: Any = Unit.path) -> ColumnElement[bool]:
    """`column` lies in the subtree rooted at the unit with this path (the unit included).

    A range on the path, so both SQLite and PostgreSQL use ix_unit_path; see subtree_upper_bound for why
    the bound is not path || '~'."""
    low, high = subtree_range(path)
    return and_(column >= low, column < high)


def in_subtree_of(column: Any, root_path_column: Any) -> ColumnElement[bool]:
    """`column` (a path) lies in the subtree whose root path is another column, e.g. of a joined group unit.
    A prefix comparison: exact in every collation, like subtree_range."""
    return func.substr(column, 1, func.length(root_path_column)) == root_path_column


def _path_of(session: Session, unit_id: int) -> str:
    path = session.scalar(select(Unit.path).where(Unit.id == unit_id))
    if path is None:
        raise LookupError(f"không có đơn vị id={unit_id}")
    return path


def subtree_ids(session: Session, unit_id: int, *, include_self: bool = True) -> list[int]:
    """Ids of the unit's descendants (and the unit itself unless include_self=False), in path order."""
    path = _path_of(session, unit_id)
    query = select(Unit.id).where(subtree_clause(path)).order_by(Unit.path)
    if not include_self:
        query = query.where(Unit.id != unit_id)
    return list(session.scalars(query))


def children(session: Session, unit_id: int) -> list[Unit]:
    """Direct children, by code."""
    return list(session.scalars(select(Unit).where(Unit.parent_id == unit_id).order_by(Unit.code)))


def ancestors(session: Session, unit_id: int) -> list[Unit]:
    """The parent chain from the root down to the parent (empty for a root): ids come from the path."""
    chain = path_ids(_path_of(session, unit_id))[:-1]
    if not chain:
        return []
    return list(session.scalars(select(Unit).where(Unit.id.in_(chain)).order_by(Unit.depth)))


def ancestor_at_level(session: Session, unit_id: int, level_code: str) -> Unit | None:
    """The unit itself or its nearest ancestor of this level; None when the chain has no such level."""
    chain = path_ids(_path_of(session, unit_id))
    return session.scalars(
        select(Unit).where(Unit.id.in_(chain), Unit.level_code == level_code).order_by(Unit.depth.desc())
    ).first()


def ancestor_prefix(depth: int, column: Any = Unit.path) -> ColumnElement[str]:
    """Path of each row's ancestor at `depth` (the row itself at its own depth): GROUP BY this to roll
    descendants up to that ancestor. Rows shallower than `depth` yield their own, shorter path, so filter
    them with Unit.depth >= depth."""
    return func.substr(column, _inline(1), _inline(path_prefix_len(depth)))


def ancestor_id_at(depth: int, column: Any = Unit.path) -> ColumnElement[int]:
    """Id of each row's ancestor at `depth`, read from the path (same caveat as ancestor_prefix)."""
    return cast(func.substr(column, _inline(path_prefix_len(depth) - 8), _inline(8)), Integer)


def _inline(number: int) -> ColumnElement[int]:
    """An integer written into the SQL: PostgreSQL only matches a SELECT expression with its GROUP BY
    copy when they are textually equal, and bound parameters never are."""
    return literal_column(str(int(number)), Integer)


def level_depths(session: Session, level_code: str) -> list[int]:
    """Depths at which units of a level occur (a single one in a regular tree). Rolling descendants up
    to that level is then GROUP BY ancestor_id_at(depth) for each of these depths."""
    query = select(Unit.depth).where(Unit.level_code == level_code).distinct().order_by(Unit.depth)
    return list(session.scalars(query))


def subtree_level_counts(session: Session, unit_id: int) -> list[tuple[str, int, int]]:
    """(level code, direct children, all descendants) per level below a unit, top level first."""
    path = _path_of(session, unit_id)
    direct = func.sum(case((Unit.parent_id == unit_id, 1), else_=0))
    rows = session.execute(
        select(Unit.level_code, direct, func.count())
        .join(Level, Level.code == Unit.level_code)
        .where(subtree_clause(path), Unit.id != unit_id)
        .group_by(Unit.level_code, Level.rank)
        .order_by(Level.rank)
    ).all()
    return [(code, int(direct_count or 0), total) for code, direct_count, total in rows]
