"""Applying a change file to the unit tree at its effective dates, and carrying in-flight work over.

Reading and executing only: the rules are models.reorganisation. One transaction: the tree steps (range
statements on the materialised path, each row closed into a unit version first), the log, the carried
work (assignments, submissions, reviews, nominations, campaigns, queued mail), and one audit row per unit
and per carried item. A SpecError lists every bad row and changes nothing.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import Integer, String, and_, bindparam, cast, func, insert, literal, or_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from thidua.audit import audit_many
from thidua.models.clock import fmt_date, utc_to_local, utcnow
from thidua.models.hierarchy import LevelIndex, subtree_upper_bound
from thidua.models.nominations import Nomination, NominationQuotaCount, NominationStatus, NominationStep
from thidua.models.outbox import OutboxMessage, OutboxStatus
from thidua.models.reorganisation import (
    COLUMNS,
    NO_LONGER_APPLIES,
    OPERATION_LABELS,
    REQUIRED_COLUMNS,
    Consequence,
    LevelPeriod,
    OpenAssignment,
    RawChange,
    ReorgPlan,
    carry_assignments,
    parse_changes,
    plan_reorganisation,
)
from thidua.models.sheet_headers import map_header
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.status import AssignmentStatus
from thidua.models.submissions import Submission
from thidua.models.tables import Assignment, AuditLog, Campaign, ObligationDef, Unit
from thidua.models.unit_history import Reorganisation, ReorganisationStep, UnitVersion
from thidua.services.units import _gc_paused, _lock_units, load_level_index

DEFAULT_ACTOR = "system:tai-cau-truc"
U = Unit.__table__  # type: ignore[attr-defined]
V = UnitVersion.__table__  # type: ignore[attr-defined]
A = Assignment.__table__  # type: ignore[attr-defined]
S = Submission.__table__  # type: ignore[attr-defined]
N = Nomination.__table__  # type: ignore[attr-defined]
NS = NominationStep.__table__  # type: ignore[attr-defined]
O = OutboxMessage.__table__  # type: ignore[attr-defined]
C = Campaign.__table__  # type: ignore[attr-defined]
OB = ObligationDef.__table__  # type: ignore[attr-defined]
R = Reorganisation.__table__  # type: ignore[attr-defined]
RS = ReorganisationStep.__table__  # type: ignore[attr-defined]
CHUNK = 10_000
# Nominations still moving through the levels (a decided, awarded, rejected or withdrawn one stays put).
OPEN_NOMINATIONS = (
    NominationStatus.DRAFTED.value,
    NominationStatus.PROPOSED.value,
    NominationStatus.UNDER_REVIEW.value,
    NominationStatus.APPROVED.value,
    NominationStatus.RETURNED.value,
)
OPEN_OUTBOX = (OutboxStatus.PENDING.value,)


# ---------------------------------------------------------------------------------------------------
# Reading the change file
# ---------------------------------------------------------------------------------------------------
def read_change_file(path: Path | str) -> tuple[list[RawChange], list[Problem]]:
    """Rows of a change file (.csv UTF-8 with , ; or tab; .xlsx: first sheet), header on row 1."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "không tìm thấy tệp", str(path))
    file = str(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                first = handle.readline()
                delimiter = max((",", ";", "\t"), key=first.count)
                handle.seek(0)
                if first.startswith("\ufeff"):
                    handle.read(1)
                return _read_table(list(csv.reader(handle, delimiter=delimiter)), file)
        except UnicodeDecodeError:
            return [], [Problem(file, None, "", "tệp CSV phải được lưu với mã hóa UTF-8")]
    if suffix in (".xlsx", ".xlsm"):
        from thidua.xlsx_guard import XlsxRefused, first_sheet_rows

        try:  # the same guard as unit lists: merged cells are read; bombs, formulas without values, hidden data are not
            return _read_table([values for _, values in first_sheet_rows(path)], file)
        except XlsxRefused as exc:
            return [], [Problem(file, exc.row, exc.where or "", exc.message)]
    return [], [Problem(file, None, "", "định dạng tệp không được hỗ trợ (dùng .csv hoặc .xlsx)")]


def _read_table(rows: Sequence[Sequence[Any]], file: str) -> tuple[list[RawChange], list[Problem]]:
    if not rows:
        return [], [Problem(file, None, "", "tệp rỗng: cần dòng tiêu đề và các dòng thay đổi")]
    header = map_header(rows[0], file, COLUMNS, REQUIRED_COLUMNS)
    columns, labels, problems = header.columns, header.labels, header.problems
    if problems:
        return [], problems
    raws = []
    for line, row in enumerate(rows[1:], start=2):
        values = {}
        for index, cell in enumerate(row):
            if cell is None or cell == "":
                continue
            if index in columns:
                values[columns[index]] = cell
            else:
                problems.append(Problem(file, line, f"cột {index + 1}", "ô có dữ liệu nhưng cột không có tiêu đề"))
        if values:
            raws.append(RawChange(file, line, values, labels))
    if not raws and not problems:
        problems.append(Problem(file, None, "", "tệp không có dòng thay đổi nào"))
    return raws, problems


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------
@dataclass
class CarriedItem:
    kind: (
        str  # assignment.moved | assignment.closed | assignment.reviewer | submission | nomination | campaign | outbox
    )
    entity_id: int
    text: str


@dataclass
class ReorgReport:
    file: str
    dry_run: bool
    effective_on: date | None = None
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    consequences: list[Consequence] = field(default_factory=list)
    carried: list[CarriedItem] = field(default_factory=list)
    carried_counts: dict[str, int] = field(default_factory=dict)
    units_versioned: int = 0
    reorganisation_id: int | None = None
    warnings: list[str] = field(default_factory=list)

    def count(self, kind: str, text_: str, entity_id: int, keep: bool) -> None:
        self.carried_counts[kind] = self.carried_counts.get(kind, 0) + 1
        if keep:
            self.carried.append(CarriedItem(kind, entity_id, text_))


# ---------------------------------------------------------------------------------------------------
# Apply
# ---------------------------------------------------------------------------------------------------
def level_periods(levels: LevelIndex) -> dict[str, LevelPeriod]:
    return {code: LevelPeriod(level.valid_from, level.valid_to) for code, level in levels.by_code.items()}


def last_effective_on(session: Session) -> date | None:
    return session.scalar(select(func.max(R.c.effective_on)))


def reorganise(
    engine: Engine,
    path: Path | str,
    *,
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
    today: date | None = None,
    now: datetime | None = None,
    detail_limit: int = 2000,
) -> ReorgReport:
    """Apply (or, with dry_run, only plan and count) a change file. SpecError: every bad row, nothing applied."""
    raws, read_problems = read_change_file(path)
    return reorganise_rows(
        engine,
        raws,
        file=str(path),
        problems=read_problems,
        dry_run=dry_run,
        actor=actor,
        today=today,
        now=now,
        detail_limit=detail_limit,
    )


def reorganise_rows(
    engine: Engine,
    raws: list[RawChange],
    *,
    file: str,
    problems: Sequence[Problem] = (),
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
    today: date | None = None,
    now: datetime | None = None,
    detail_limit: int = 2000,
) -> ReorgReport:
    now = now or utcnow()
    today = today or utc_to_local(now).date()
    report = ReorgReport(file, dry_run)
    with Session(engine) as session:
        try:
            _apply(session, raws, file, problems, dry_run, actor, today, now, detail_limit, report)
        except BaseException:
            session.rollback()
            raise
        if dry_run:
            # Everything was executed so that the consequences are counted exactly; none of it is kept.
            session.rollback()
            report.reorganisation_id = None
        else:
            session.commit()
    return report


def _apply(
    session: Session,
    raws: list[RawChange],
    file: str,
    problems: Sequence[Problem],
    dry_run: bool,
    actor: str,
    today: date,
    now: datetime,
    detail_limit: int,
    report: ReorgReport,
) -> None:
    if not dry_run:
        _lock_units(session)
    levels = load_level_index(session)
    rows, row_problems = parse_changes(raws, levels)
    all_problems = [*problems, *row_problems]
    plan, plan_problems = None, []
    if rows:
        plan, plan_problems = plan_reorganisation(
            rows,
            _tree_rows(session),
            levels,
            today=today,
            not_before=last_effective_on(session),
            level_periods=level_periods(levels),
        )
    all_problems += plan_problems
    if all_problems or plan is None:
        raise SpecError(sorted(all_problems, key=lambda p: p.line or 0))
    report.effective_on, report.rows, report.counts = plan.effective_on, plan.rows, plan.counts
    report.consequences, report.warnings = plan.consequences, plan.warnings
    reorg_id = _record(session, plan, file, actor, now)
    report.reorganisation_id = reorg_id
    report.units_versioned = _execute_steps(session.connection(), plan, reorg_id, now)
    # Subtrees changed: the nomination quota counters are counted again when next needed.
    session.execute(NominationQuotaCount.__table__.delete())  # type: ignore[attr-defined]
    _record_log(session, plan, reorg_id)
    _carry(session, plan, reorg_id, actor, now, report, detail_limit)
    _audit_tree(session, plan, reorg_id, actor, now, file)
    session.execute(
        update(R)
        .where(R.c.id == reorg_id)
        .values(
            summary={
                "rows": plan.rows,
                "counts": plan.counts,
                "carried": report.carried_counts,
                "units_versioned": report.units_versioned,
            }
        )
    )


def _tree_rows(session: Session) -> list[tuple]:
    """The stored tree as plain tuples: only what planning reads (no e-mail lists to decode)."""
    with _gc_paused():
        return [
            tuple(row)
            for row in session.execute(select(U.c.id, U.c.code, U.c.name, U.c.level_code, U.c.parent_id, U.c.active))
        ]


def _record(session: Session, plan: ReorgPlan, file: str, actor: str, now: datetime) -> int:
    reorg_id = session.execute(
        insert(R)
        .values(effective_on=plan.effective_on, file=file, actor=actor, applied_at=now, summary={})
        .returning(R.c.id)
    ).scalar_one()
    return reorg_id


def _record_log(session: Session, plan: ReorgPlan, reorg_id: int) -> None:
    conn = session.connection()
    for chunk in _chunks(plan.log):
        conn.execute(insert(RS), [{**row, "reorganisation_id": reorg_id} for row in chunk])


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


_VERSION_COLUMNS = ("code", "name", "level_code", "parent_id", "path", "depth", "active", "sector", "valid_from")


def _close_versions(conn: Connection, where: Any, day: date, reorg_id: int) -> int:
    """Copy the rows about to change into unit_version (valid until `day`) unless they start on `day` (a row
    changed twice on one date keeps one version)."""
    query = select(
        U.c.id,
        *(U.c[c] for c in _VERSION_COLUMNS),
        literal(day).label("valid_to"),
        literal(reorg_id).label("reorganisation_id"),
    ).where(where, or_(U.c.valid_from.is_(None), U.c.valid_from < day))
    result = conn.execute(insert(V).from_select(["unit_id", *_VERSION_COLUMNS, "valid_to", "reorganisation_id"], query))
    return max(result.rowcount or 0, 0)


def _execute_steps(conn: Connection, plan: ReorgPlan, reorg_id: int, now: datetime) -> int:
    versioned = 0
    for step in plan.steps:
        day = step.effective_on
        if step.kind == "insert":
            conn.execute(insert(U).values(**step.values, updated_at=now))
        elif step.kind in ("move", "move_children"):
            old, new = step.old_path, step.new_path
            if step.kind == "move":
                where = and_(U.c.path >= old, U.c.path < subtree_upper_bound(old))
            else:  # below the unit: the children's subtrees, now under new_path
                where = and_(U.c.path > old, U.c.path < subtree_upper_bound(old))
            versioned += _close_versions(conn, where, day, reorg_id)
            if step.kind == "move_children":
                conn.execute(
                    update(U).where(U.c.parent_id == step.unit_id).values(parent_id=step.new_parent_id, updated_at=now)
                )
            else:
                conn.execute(update(U).where(U.c.id == step.unit_id).values(parent_id=step.new_parent_id))
            conn.execute(
                update(U)
                .where(where)
                .values(
                    path=literal(new, String) + func.substr(U.c.path, literal(len(old) + 1, Integer)),
                    depth=U.c.depth + (len(new) - len(old)) // 9,
                    valid_from=day,
                    updated_at=now,
                )
            )
        elif step.kind == "set":
            where = U.c.id == step.unit_id
            versioned += _close_versions(conn, where, day, reorg_id)
            conn.execute(update(U).where(where).values(**step.values, valid_from=day, updated_at=now))
    if plan.inserted_ids and conn.dialect.name == "postgresql":
        conn.execute(text("SELECT setval(pg_get_serial_sequence('unit', 'id'), (SELECT max(id) FROM unit))"))
    return versioned


def _audit_tree(session: Session, plan: ReorgPlan, reorg_id: int, actor: str, now: datetime, file: str) -> None:
    def rows() -> Iterator[dict[str, Any]]:
        for row in plan.log:
            before = {"parent_id": row["old_parent_id"], "name": row["old_name"] or None}
            after = {
                "parent_id": row["new_parent_id"],
                "name": row["new_name"] or None,
                "successor_unit_id": row["successor_unit_id"],
            }
            yield {
                "at": now,
                "actor": actor,
                "action": f"unit.{row['kind']}",
                "entity": "unit",
                "entity_id": row["unit_id"],
                "unit_id": row["unit_id"],
                "before": {k: v for k, v in before.items() if v is not None} or None,
                "after": {k: v for k, v in after.items() if v is not None} or None,
                "note": f"tái cấu trúc #{reorg_id} ({OPERATION_LABELS[row['operation']]}), tệp {file} dòng {row['line']}, "
                f"hiệu lực {fmt_date(row['effective_on'])}",
            }

    iterator = rows()
    while chunk := list(islice(iterator, CHUNK)):
        audit_many(session, chunk)


# ---------------------------------------------------------------------------------------------------
# Carrying in-flight work
# ---------------------------------------------------------------------------------------------------
def _carry(
    session: Session, plan: ReorgPlan, reorg_id: int, actor: str, now: datetime, report: ReorgReport, detail_limit: int
) -> None:
    conn = session.connection()
    audits: list[dict[str, Any]] = []

    def note(
        kind: str,
        entity: str,
        entity_id: int,
        text_: str,
        before: dict[str, Any],
        after: dict[str, Any],
        campaign_id: int | None,
        unit_id: int | None,
        day: date,
    ) -> None:
        report.count(kind, text_, entity_id, len(report.carried) < detail_limit)
        audits.append(
            {
                "at": now,
                "actor": actor,
                "action": f"reorganise.{kind}",
                "entity": entity,
                "entity_id": entity_id,
                "campaign_id": campaign_id,
                "unit_id": unit_id,
                "before": before,
                "after": after,
                "note": f"tái cấu trúc #{reorg_id}, hiệu lực {fmt_date(day)}: {text_}",
            }
        )
        if len(audits) >= CHUNK:
            audit_many(session, audits)
            audits.clear()

    ended = [row for row in plan.log if row["kind"] == "ended" and row["is_primary"] and row["successor_unit_id"]]
    successor_of = {row["unit_id"]: row["successor_unit_id"] for row in ended}
    day_of = {row["unit_id"]: row["effective_on"] for row in ended}
    codes = dict(
        session.execute(
            select(U.c.id, U.c.code).where(
                U.c.id.in_({*successor_of, *successor_of.values()}) if successor_of else literal(False)
            )
        ).all()
    )
    ended_ids = plan.ended_ids

    if ended_ids:
        _carry_assignments(session, conn, ended_ids, successor_of, day_of, codes, now, note)
    _carry_reviewers(
        session, conn, reorg_id, ended_ids, successor_of, day_of, codes, now, note, report, actor, detail_limit
    )
    if successor_of:
        _carry_nominations(session, conn, successor_of, day_of, codes, actor, now, note)
        _carry_campaigns(conn, successor_of, day_of, codes, now, note)
    if ended_ids:
        _carry_outbox(conn, ended_ids, successor_of, day_of, codes, now, note)
    if audits:
        audit_many(session, audits)


def _in(column, ids: Iterable[int]):  # noqa: ANN001, ANN202
    return column.in_(bindparam("ids", list(ids), expanding=True))


def _carry_assignments(session, conn, ended_ids, successor_of, day_of, codes, now, note) -> None:  # noqa: ANN001
    open_rows = [
        OpenAssignment(*row)
        for row in conn.execute(
            select(A.c.id, A.c.obligation_id, A.c.unit_id, A.c.status).where(
                _in(A.c.unit_id, ended_ids), A.c.active.is_(True), A.c.status != AssignmentStatus.ACCEPTED.value
            )
        )
    ]
    if not open_rows:
        return
    obligation_ids = {row.obligation_id for row in open_rows}
    obligation_rows = conn.execute(
        select(OB.c.id, OB.c.levels, OB.c.reviewer, OB.c.campaign_id).where(_in(OB.c.id, obligation_ids))
    ).all()
    obligation_levels = {row.id: list(row.levels or []) for row in obligation_rows}
    reviewer_rule = {row.id: row.reviewer for row in obligation_rows}
    campaign_of = {row.id: row.campaign_id for row in obligation_rows}
    successors = set(successor_of.values())
    unit_rows = (
        {
            row.id: row
            for row in conn.execute(select(U.c.id, U.c.level_code, U.c.parent_id).where(_in(U.c.id, successors)))
        }
        if successors
        else {}
    )
    already = (
        set(
            conn.execute(
                select(A.c.obligation_id, A.c.unit_id).where(
                    _in(A.c.unit_id, successors), A.c.obligation_id.in_(obligation_ids)
                )
            ).all()
        )
        if successors
        else set()
    )
    moves, closes = carry_assignments(
        open_rows, successor_of, {k: v.level_code for k, v in unit_rows.items()}, obligation_levels, already
    )
    if moves:
        # reviewer 'parent': the successor's parent reviews; any other rule keeps its reviewer
        conn.execute(
            update(A)
            .where(A.c.id == bindparam("b_id"))
            .values(
                unit_id=bindparam("b_unit"),
                updated_at=now,
                version=A.c.version + 1,
                reviewer_unit_id=func.coalesce(bindparam("b_reviewer", type_=Integer), A.c.reviewer_unit_id),
            ),
            [
                {
                    "b_id": row.id,
                    "b_unit": successor,
                    "b_reviewer": unit_rows[successor].parent_id
                    if reviewer_rule[row.obligation_id] == "parent"
                    else None,
                }
                for row, successor in moves
            ],
        )
        conn.execute(
            update(S).where(S.c.assignment_id == bindparam("b_id")).values(unit_id=bindparam("b_unit")),
            [{"b_id": row.id, "b_unit": successor} for row, successor in moves],
        )
        for row, successor in moves:
            note(
                "assignment.moved",
                "assignment",
                row.id,
                f"nghĩa vụ #{row.id} ({row.status}) của '{codes.get(row.unit_id)}' chuyển sang '{codes.get(successor)}'",
                {"unit_id": row.unit_id},
                {"unit_id": successor},
                campaign_of[row.obligation_id],
                successor,
                day_of[row.unit_id],
            )
    if closes:
        conn.execute(
            update(A).where(A.c.id == bindparam("b_id")).values(active=False, updated_at=now, version=A.c.version + 1),
            [{"b_id": row.id} for row in closes],
        )
        for row in closes:
            note(
                "assignment.closed",
                "assignment",
                row.id,
                f"nghĩa vụ #{row.id} của '{codes.get(row.unit_id)}' đóng: {NO_LONGER_APPLIES}",
                {"active": True},
                {"active": False, "reason": NO_LONGER_APPLIES},
                campaign_of[row.obligation_id],
                row.unit_id,
                day_of.get(row.unit_id) or date.min,
            )


def _carry_reviewers(
    session, conn, reorg_id, ended_ids, successor_of, day_of, codes, now, note, report, actor, detail_limit
) -> None:  # noqa: ANN001
    """Unreviewed work of a unit that changed parent goes to the new parent (set-based: one audit INSERT …
    SELECT and one UPDATE per pass; a unit moved twice in one file takes a second pass); work reviewed by an
    ended unit goes to its successor."""
    moved_units = select(RS.c.unit_id).where(RS.c.reorganisation_id == reorg_id, RS.c.kind == "moved")
    new_reviewer = (
        select(RS.c.new_parent_id)
        .where(
            RS.c.reorganisation_id == reorg_id,
            RS.c.kind == "moved",
            RS.c.unit_id == A.c.unit_id,
            RS.c.old_parent_id == A.c.reviewer_unit_id,
        )
        .order_by(RS.c.id.desc())
        .limit(1)
        .correlate(A)
        .scalar_subquery()
    )
    where = [
        A.c.unit_id.in_(moved_units),
        A.c.active.is_(True),
        A.c.status != AssignmentStatus.ACCEPTED.value,
        new_reviewer.is_not(None),
    ]
    json_object = func.json_build_object if conn.dialect.name == "postgresql" else func.json_object
    AL = AuditLog.__table__  # type: ignore[attr-defined]
    text_ = f"tái cấu trúc #{reorg_id}: đơn vị duyệt mới là cấp trên mới của đơn vị"
    for _ in range(8):
        if len(report.carried) < detail_limit:
            for row in conn.execute(
                select(A.c.id, A.c.reviewer_unit_id, new_reviewer.label("new"))
                .where(*where)
                .limit(detail_limit - len(report.carried))
            ):
                report.carried.append(
                    CarriedItem(
                        "assignment.reviewer",
                        row.id,
                        f"nghĩa vụ #{row.id}: đơn vị duyệt #{row.reviewer_unit_id} → #{row.new}",
                    )
                )
        conn.execute(
            insert(AL).from_select(
                ["at", "actor", "action", "entity", "entity_id", "campaign_id", "unit_id", "before", "after", "note"],
                select(
                    literal(now, AL.c.at.type),
                    literal(actor),
                    literal("reorganise.assignment.reviewer"),
                    literal("assignment"),
                    cast(A.c.id, String),
                    A.c.campaign_id,
                    A.c.unit_id,
                    json_object(literal("reviewer_unit_id"), A.c.reviewer_unit_id),
                    json_object(literal("reviewer_unit_id"), new_reviewer),
                    literal(text_),
                ).where(*where),
            )
        )
        changed = conn.execute(update(A).where(*where).values(reviewer_unit_id=new_reviewer, updated_at=now)).rowcount
        if not changed:
            break
        report.carried_counts["assignment.reviewer"] = report.carried_counts.get("assignment.reviewer", 0) + changed
    if ended_ids and successor_of:
        for row in conn.execute(
            select(A.c.id, A.c.campaign_id, A.c.unit_id, A.c.reviewer_unit_id).where(
                _in(A.c.reviewer_unit_id, list(successor_of)),
                A.c.active.is_(True),
                A.c.status != AssignmentStatus.ACCEPTED.value,
            )
        ).all():
            successor = successor_of[row.reviewer_unit_id]
            conn.execute(update(A).where(A.c.id == row.id).values(reviewer_unit_id=successor, updated_at=now))
            note(
                "assignment.reviewer",
                "assignment",
                row.id,
                f"nghĩa vụ #{row.id}: đơn vị duyệt mới là '{codes.get(successor)}'",
                {"reviewer_unit_id": row.reviewer_unit_id},
                {"reviewer_unit_id": successor},
                row.campaign_id,
                row.unit_id,
                day_of[row.reviewer_unit_id],
            )


def _carry_nominations(session, conn, successor_of, day_of, codes, actor, now, note) -> None:  # noqa: ANN001
    ended = list(successor_of)
    rows = conn.execute(
        select(
            N.c.id,
            N.c.campaign_id,
            N.c.status,
            N.c.current_unit_id,
            N.c.deciding_unit_id,
            N.c.returned_by_unit_id,
            N.c.version,
            N.c.current_level,
        ).where(
            N.c.status.in_(OPEN_NOMINATIONS),
            or_(_in(N.c.current_unit_id, ended), N.c.deciding_unit_id.in_(ended), N.c.returned_by_unit_id.in_(ended)),
        )
    ).all()
    if not rows:
        return
    level_of = dict(conn.execute(select(U.c.id, U.c.level_code).where(_in(U.c.id, set(successor_of.values())))).all())
    for row in rows:
        current = successor_of.get(row.current_unit_id, row.current_unit_id)
        values = {
            "current_unit_id": current,
            "current_level": level_of[current] if current != row.current_unit_id else row.current_level,
            "deciding_unit_id": successor_of.get(row.deciding_unit_id, row.deciding_unit_id),
            "returned_by_unit_id": successor_of.get(row.returned_by_unit_id, row.returned_by_unit_id)
            if row.returned_by_unit_id is not None
            else None,
            "version": row.version + 1,
            "updated_at": now,
        }
        conn.execute(update(N).where(N.c.id == row.id).values(**values))
        changed_unit = next(
            u for u in (row.current_unit_id, row.deciding_unit_id, row.returned_by_unit_id) if u in successor_of
        )
        day = day_of[changed_unit]
        comment = (
            f"chuyển do tái cấu trúc từ {fmt_date(day)}: '{codes.get(changed_unit)}' → "
            f"'{codes.get(successor_of[changed_unit])}'"
        )
        conn.execute(
            insert(NS).values(
                nomination_id=row.id,
                seq=row.version + 1,
                action="transfer",
                from_status=row.status,
                to_status=row.status,
                at_unit_id=changed_unit,
                to_unit_id=current,
                actor=actor,
                at=now,
                comment=comment,
            )
        )
        note(
            "nomination",
            "nomination",
            row.id,
            f"hồ sơ khen thưởng #{row.id}: {comment}",
            {"current_unit_id": row.current_unit_id, "deciding_unit_id": row.deciding_unit_id},
            {"current_unit_id": current, "deciding_unit_id": values["deciding_unit_id"]},
            row.campaign_id,
            current,
            day,
        )


def _carry_campaigns(conn, successor_of, day_of, codes, now, note) -> None:  # noqa: ANN001
    ended = list(successor_of)
    rows = conn.execute(
        select(C.c.id, C.c.code, C.c.root_unit_id, C.c.issuing_unit_id).where(
            C.c.status == "active", or_(_in(C.c.root_unit_id, ended), C.c.issuing_unit_id.in_(ended))
        )
    ).all()
    for row in rows:
        root = successor_of.get(row.root_unit_id, row.root_unit_id)
        issuing = successor_of.get(row.issuing_unit_id, row.issuing_unit_id)
        conn.execute(
            update(C).where(C.c.id == row.id).values(root_unit_id=root, issuing_unit_id=issuing, updated_at=now)
        )
        changed = row.root_unit_id if row.root_unit_id in successor_of else row.issuing_unit_id
        note(
            "campaign",
            "campaign",
            row.id,
            f"chiến dịch '{row.code}': đơn vị chủ trì/phạm vi chuyển từ '{codes.get(changed)}' sang '{codes.get(successor_of[changed])}'",
            {"root_unit_id": row.root_unit_id, "issuing_unit_id": row.issuing_unit_id},
            {"root_unit_id": root, "issuing_unit_id": issuing},
            row.id,
            root,
            day_of[changed],
        )


def _carry_outbox(conn, ended_ids, successor_of, day_of, codes, now, note) -> None:  # noqa: ANN001
    """Queued mail to an ended unit is not sent to it. A queued reminder about an assignment that moved is
    re-addressed to the successor (same assignment and rung: the ledger still holds one reminder per rung);
    a queued escalation is dropped and the next planning addresses the new parent. Nothing sent is touched."""
    rows = conn.execute(
        select(
            O.c.id,
            O.c.kind,
            O.c.campaign_id,
            O.c.assignment_id,
            O.c.unit_id,
            O.c.rung,
            O.c.template,
            O.c.context,
            O.c.scheduled_at,
        ).where(_in(O.c.unit_id, ended_ids), O.c.status.in_(OPEN_OUTBOX))
    ).all()
    if not rows:
        return
    reason = "đơn vị đã ngừng hoạt động do tái cấu trúc"
    conn.execute(
        update(O)
        .where(O.c.id == bindparam("b_id"))
        .values(status=OutboxStatus.SKIPPED.value, last_error=reason, lease_owner=None),
        [{"b_id": row.id} for row in rows],
    )
    emails_of = (
        dict(conn.execute(select(U.c.id, U.c.emails).where(_in(U.c.id, set(successor_of.values())))).all())
        if successor_of
        else {}
    )
    owner_of = dict(
        conn.execute(
            select(A.c.id, A.c.unit_id).where(
                _in(A.c.id, {r.assignment_id for r in rows if r.assignment_id is not None})
            )
        ).all()
    )
    replacements = []
    for row in rows:
        day = day_of.get(row.unit_id) or date.min
        new_owner = owner_of.get(row.assignment_id) if row.kind == "reminder" else None
        if new_owner is not None and new_owner != row.unit_id:
            for address in emails_of.get(new_owner, []):
                address = address.strip().lower()
                replacements.append(
                    {
                        "key": f"rem:{row.assignment_id}:{row.rung}:{address}",
                        "kind": row.kind,
                        "campaign_id": row.campaign_id,
                        "assignment_id": row.assignment_id,
                        "unit_id": new_owner,
                        "rung": row.rung,
                        "recipient": address,
                        "template": row.template,
                        "context": row.context,
                        "scheduled_at": row.scheduled_at,
                        "status": OutboxStatus.PENDING.value,
                        "attempts": 0,
                        "created_at": now,
                    }
                )
            text_ = f"thư chờ gửi #{row.id} ({row.kind}) gửi lại cho '{codes.get(new_owner)}' thay cho '{codes.get(row.unit_id)}'"
        else:
            text_ = f"thư chờ gửi #{row.id} ({row.kind}) cho '{codes.get(row.unit_id)}' không gửi: {reason}"
        note(
            "outbox",
            "outbox",
            row.id,
            text_,
            {"status": OutboxStatus.PENDING.value},
            {"status": OutboxStatus.SKIPPED.value},
            row.campaign_id,
            row.unit_id,
            day,
        )
    if replacements:
        existing = set(conn.execute(select(O.c.key).where(O.c.key.in_([r["key"] for r in replacements]))).scalars())
        fresh = [r for r in replacements if r["key"] not in existing]
        if fresh:
            conn.execute(insert(O), fresh)
