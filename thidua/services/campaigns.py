"""Loading a campaign file: validate everything, then apply the plan in one transaction.

Loading the same file twice changes nothing; an edited file updates the plan in place (moved deadlines,
new obligations, new units) and keeps every submission. Assignments are created and re-dated with
set-based SQL (INSERT ... SELECT / UPDATE ... WHERE), never one row at a time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import and_, exists, func, insert, literal, not_, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.audit import audit
from thidua.models.clock import end_of_day_utc, fmt_date, utcnow
from thidua.models.hierarchy import subtree_range  # noqa: F401  (the one rule; imported from here by many)
from thidua.models.periods import Period
from thidua.models.spec.campaign import CampaignSpec, Obligation, interim_round, obligation_periods, resolve_due
from thidua.models.spec.problems import Problem, SpecError
from thidua.models.spec.yamlsource import SourceDoc
from thidua.models.tables import Assignment, Campaign, Level, ObligationDef, Round, Target, Unit
from thidua.models.workcalendar import adjust_deadline
from thidua.services.calendars import resolve_config_path
from thidua.services.campaign_file import (  # noqa: F401  (re-exported: the loader's callers import them from here)
    CHECKS_NEEDING_THE_DATABASE,
    _award_problems,
    _file_problems,
    _level_problems,
    campaign_warnings,
    check_campaign_file,
    holidays_for,
    read_campaign_file,
)
from thidua.services.quotas import read_quotas
from thidua.services.selectors import selector_clause, selector_problems
from thidua.services.units import load_attribute_schema

BULK_ROWS_FOR_ANALYZE = 5000


@dataclass
class LoadResult:
    code: str
    campaign_id: int | None
    created: bool
    dry_run: bool
    changes: list[str] = field(default_factory=list)
    assignments_created: int = 0
    assignments_redated: int = 0
    assignments_deactivated: int = 0
    assignments_reactivated: int = 0
    warnings: list[Problem] = field(default_factory=list)  # valid, but worth a look (e.g. holidays not covered)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back after computing its changes."""


def _db_problems(session: Session, spec: CampaignSpec, doc: SourceDoc, base_dir: Path) -> list[Problem]:
    """Checks that need the database (units, levels) and the files the campaign refers to."""
    problems: list[Problem] = []
    known_levels = list(session.exec(select(Level.code).order_by(Level.rank)).scalars())  # type: ignore[call-overload]
    level_codes = set(known_levels)
    unit_codes_needed = {spec.issuing_unit, spec.participants_root or spec.issuing_unit}
    if spec.owner.unit:
        unit_codes_needed.add(spec.owner.unit)
    found = set(session.exec(select(Unit.code).where(Unit.code.in_(unit_codes_needed))).scalars())  # type: ignore[call-overload,attr-defined]
    for loc, code in (
        (("issuing_unit",), spec.issuing_unit),
        (("participants_root",), spec.participants_root),
        (("owner", "unit"), spec.owner.unit),
    ):
        if code and code not in found:
            problems.append(doc.problem(loc, f"không có đơn vị mã '{code}' (hãy nhập danh sách đơn vị trước)"))
    if not level_codes:
        problems.append(doc.problem((), "chưa có danh mục cấp công đoàn (chạy 'thidua units levels')"))
    else:
        problems.extend(_level_problems(spec, doc, known_levels))
    schema = load_attribute_schema()
    for i, ob in enumerate(spec.obligations):
        problems.extend(selector_problems(session, ob.where, ("obligations", i, "where"), doc, schema))
    for i, target in enumerate(spec.targets):
        problems.extend(selector_problems(session, target.source.where, ("targets", i, "source", "where"), doc, schema))
        if target.denominator is not None:
            problems.extend(
                selector_problems(
                    session, target.denominator.where, ("targets", i, "denominator", "where"), doc, schema
                )
            )
            for j, level in enumerate(target.denominator.levels):
                if level_codes and level not in level_codes:
                    problems.append(doc.problem(("targets", i, "denominator", "levels", j), f"không có cấp '{level}'"))
        if target.breakdown_attribute and target.breakdown_attribute not in schema.by_code():
            problems.append(
                doc.problem(
                    ("targets", i, "breakdown_attribute"), f"không có thuộc tính đơn vị '{target.breakdown_attribute}'"
                )
            )
        if target.quotas:
            problems.extend(_quota_problems(session, spec, doc, base_dir, i))
        if target.breakdown_cluster_level and level_codes and target.breakdown_cluster_level not in level_codes:
            problems.append(
                doc.problem(
                    ("targets", i, "breakdown_cluster_level"), f"không có cấp '{target.breakdown_cluster_level}'"
                )
            )
    problems.extend(_file_problems(spec, doc, base_dir))
    return problems


def target_quotas(spec_target, base_dir: Path) -> dict[str, float] | None:  # noqa: ANN001
    if not spec_target.quotas:
        return None
    quotas, _, _ = read_quotas(resolve_config_path(spec_target.quotas, base_dir))
    return quotas


def _quota_problems(session: Session, spec: CampaignSpec, doc: SourceDoc, base_dir: Path, index: int) -> list[Problem]:
    """The quota spreadsheet: readable, one number per unit, every unit of the breakdown level (in the campaign's
    tree) given a quota and no other unit."""
    target = spec.targets[index]
    assert target.quotas is not None
    path = resolve_config_path(target.quotas, base_dir)
    if not path.exists():
        return [doc.problem(("targets", index, "quotas"), f"không tìm thấy tệp chỉ tiêu '{target.quotas}'")]
    quotas, lines, problems = read_quotas(path)
    if problems:
        return problems
    root = session.execute(select(Unit.path).where(Unit.code == (spec.participants_root or spec.issuing_unit))).scalar()
    if root is None:
        return []
    low, high = subtree_range(root)
    expected = set(
        session.execute(
            select(Unit.code).where(  # type: ignore[call-overload]
                Unit.level_code == target.breakdown_level, Unit.active.is_(True), Unit.path >= low, Unit.path < high
            )
        ).scalars()
    )
    for code in sorted(quotas.keys() - expected, key=lines.get):
        problems.append(
            Problem(
                str(path),
                lines[code],
                "Mã đơn vị",
                f"'{code}' không phải đơn vị cấp '{target.breakdown_level}' đang hoạt động của chiến dịch",
            )
        )
    for code in sorted(expected - quotas.keys()):
        problems.append(Problem(str(path), None, "Mã đơn vị", f"thiếu chỉ tiêu của đơn vị '{code}'"))
    return problems


@dataclass(frozen=True)
class PlannedObligation:
    """One obligation row of the plan: a one-off obligation, or one period of a recurring one."""

    code: str  # 'so-ket-dot-1', or 'danh-gia-thang@2024-03' for a period
    spec: Obligation
    due: date
    period: Period | None = None


def period_code(series: str, period: Period) -> str:
    return f"{series}@{period.key}"


def planned_obligations(spec: CampaignSpec, holidays: frozenset[date]) -> list[PlannedObligation]:
    rounds = {r.number: r for r in spec.rounds}
    out: list[PlannedObligation] = []
    for ob in spec.obligations:
        if ob.every is not None:
            for period, due in obligation_periods(ob, spec):
                out.append(
                    PlannedObligation(
                        period_code(ob.code, period), ob, adjust_deadline(due, spec.calendar, holidays), period
                    )
                )
            continue
        due = resolve_due(ob, rounds)
        assert due is not None  # consistency_problems guarantees it
        out.append(PlannedObligation(ob.code, ob, adjust_deadline(due, spec.calendar, holidays)))
    return out


def planned_due_dates(spec: CampaignSpec, holidays: frozenset[date]) -> dict[str, date]:
    return {planned.code: planned.due for planned in planned_obligations(spec, holidays)}


def load_campaign(engine: Engine, path: Path, *, dry_run: bool = False, actor: str = "cli") -> LoadResult:
    spec, doc = read_campaign_file(path)
    base_dir = path.resolve().parent.parent  # campaign files live in config/campaigns/
    result = LoadResult(code=spec.code, campaign_id=None, created=False, dry_run=dry_run)
    try:
        with Session(engine, expire_on_commit=False) as session:
            with session.begin():
                problems = _db_problems(session, spec, doc, base_dir)
                if problems:
                    raise SpecError(problems)
                result.warnings = campaign_warnings(spec, doc, base_dir)
                _apply(session, spec, path, holidays_for(spec, base_dir), result, actor)
                if dry_run:
                    raise _DryRun
    except _DryRun:
        return result
    if result.assignments_created >= BULK_ROWS_FOR_ANALYZE:
        refresh_statistics(engine, ("unit", "assignment"))
    return result


def refresh_statistics(engine: Engine, tables: tuple[str, ...]) -> None:
    """After a bulk change, fresh planner statistics let roll-ups start from the unit path index. Run after the
    commit (PostgreSQL's ANALYZE does not count the rows of its own transaction); on PostgreSQL VACUUM also
    sets the visibility map, without which the covering index cannot answer roll-ups on its own."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.execute(text(f"VACUUM (ANALYZE) {table}"))
        return
    with engine.begin() as conn:
        for table in tables:
            conn.execute(text(f"ANALYZE {table}"))


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _unit_id(session: Session, code: str) -> int:
    return session.exec(select(Unit.id).where(Unit.code == code)).scalar_one()  # type: ignore[call-overload]


def _apply(
    session: Session, spec: CampaignSpec, path: Path, holidays: frozenset[date], result: LoadResult, actor: str
) -> None:
    issuing_id = _unit_id(session, spec.issuing_unit)
    root_id = _unit_id(session, spec.participants_root or spec.issuing_unit)
    owner_unit_id = _unit_id(session, spec.owner.unit) if spec.owner.unit else issuing_id
    spec_json = spec.model_dump(mode="json")
    campaign_values: dict[str, Any] = {
        "title": spec.title,
        "theme": spec.theme,
        "year": spec.year,
        "timezone": spec.timezone,
        "issuing_unit_id": issuing_id,
        "root_unit_id": root_id,
        "owner_department": spec.owner.department,
        "owner_email": str(spec.owner.email),
        "starts_on": spec.starts,
        "ends_on": spec.ends,
        "spec": spec_json,
    }
    campaign = session.exec(select(Campaign).where(Campaign.code == spec.code)).scalars().first()  # type: ignore[call-overload]
    if campaign is None:
        campaign = Campaign(code=spec.code, source_file=str(path), source_hash=_file_hash(path), **campaign_values)
        session.add(campaign)
        session.flush()
        result.created = True
        result.changes.append(f"Tạo chiến dịch '{spec.code}': {spec.title}")
        audit(
            session,
            actor=actor,
            action="campaign.created",
            entity="campaign",
            entity_id=campaign.id,
            campaign_id=campaign.id,
            after={"code": spec.code, "title": spec.title},
        )
    else:
        before = {k: getattr(campaign, k) for k in campaign_values if k != "spec"}
        changed = {k: v for k, v in campaign_values.items() if k != "spec" and getattr(campaign, k) != v}
        for key, value in campaign_values.items():
            setattr(campaign, key, value)
        if changed:
            campaign.updated_at = utcnow()
            for key, value in changed.items():
                result.changes.append(f"Chiến dịch: '{key}' đổi từ {_show(before[key])} thành {_show(value)}")
            audit(
                session,
                actor=actor,
                action="campaign.updated",
                entity="campaign",
                entity_id=campaign.id,
                campaign_id=campaign.id,
                before={k: before[k] for k in changed},
                after=changed,
            )
        campaign.source_file = str(path)
        campaign.source_hash = _file_hash(path)
    result.campaign_id = campaign.id
    assert campaign.id is not None

    _apply_rounds(session, campaign.id, spec, result, actor)
    obligations = _apply_obligations(session, campaign.id, spec, planned_obligations(spec, holidays), result, actor)
    _apply_targets(session, campaign.id, spec, result, actor, path.resolve().parent.parent)
    _apply_assignments(session, campaign, obligations, root_id, owner_unit_id, result, actor)


def _show(value: Any) -> str:
    if isinstance(value, date):
        return fmt_date(value)
    return f"'{value}'"


def _apply_rounds(session: Session, campaign_id: int, spec: CampaignSpec, result: LoadResult, actor: str) -> None:
    existing = {r.number: r for r in session.exec(select(Round).where(Round.campaign_id == campaign_id)).scalars()}  # type: ignore[call-overload]
    for round_spec in spec.rounds:
        current = existing.pop(round_spec.number, None)
        values = {"name": round_spec.name, "starts_on": round_spec.starts, "ends_on": round_spec.ends}
        if current is None:
            session.add(Round(campaign_id=campaign_id, number=round_spec.number, **values))
            if not result.created:
                result.changes.append(
                    f"Thêm {round_spec.name} ({fmt_date(round_spec.starts)} – {fmt_date(round_spec.ends)})"
                )
            continue
        changed = {k: v for k, v in values.items() if getattr(current, k) != v}
        if changed:
            before = {k: getattr(current, k) for k in changed}
            for key, value in changed.items():
                setattr(current, key, value)
            result.changes.append(
                f"{round_spec.name}: " + ", ".join(f"{k} {_show(before[k])} → {_show(v)}" for k, v in changed.items())
            )
            audit(
                session,
                actor=actor,
                action="round.updated",
                entity="round",
                entity_id=current.id,
                campaign_id=campaign_id,
                before=before,
                after=changed,
            )
    for stale in existing.values():  # a round removed from the file
        result.changes.append(f"Bỏ {stale.name}")
        audit(
            session,
            actor=actor,
            action="round.deleted",
            entity="round",
            entity_id=stale.id,
            campaign_id=campaign_id,
            before={"number": stale.number, "starts_on": stale.starts_on, "ends_on": stale.ends_on},
        )
        session.delete(stale)


def _obligation_values(planned: PlannedObligation, spec: CampaignSpec) -> dict[str, Any]:
    ob, period, default_ladder = planned.spec, planned.period, spec.default_ladder
    return {
        "kind": ob.kind,
        "title": ob.title if period is None else f"{ob.title} ({period.label})",
        "series": None if period is None else ob.code,
        "period_key": None if period is None else period.key,
        "period_starts": None if period is None else period.starts,
        "period_ends": None if period is None else period.ends,
        "round_number": ob.round if ob.kind != "interim_report" else interim_round(ob, spec),
        "opens_on": ob.opens if period is None else max(ob.opens or period.starts, period.starts),
        "due_on": planned.due,
        "levels": list(ob.levels),
        "sectors": list(ob.sectors or []),
        "reviewer": ob.reviewer,
        "ladder": ob.ladder or default_ladder,
        "definition": ob.model_dump(mode="json"),
        "active": True,
    }


def _apply_obligations(
    session: Session,
    campaign_id: int,
    spec: CampaignSpec,
    plan: list[PlannedObligation],
    result: LoadResult,
    actor: str,
) -> list[ObligationDef]:
    existing = {
        o.code: o
        for o in session.exec(select(ObligationDef).where(ObligationDef.campaign_id == campaign_id)).scalars()  # type: ignore[call-overload]
    }
    active: list[ObligationDef] = []
    for planned in plan:
        code, due_on = planned.code, planned.due
        values = _obligation_values(planned, spec)
        current = existing.pop(code, None)
        if current is None:
            current = ObligationDef(campaign_id=campaign_id, code=code, **values)
            session.add(current)
            session.flush()
            if not result.created:
                result.changes.append(f"Thêm nghĩa vụ '{code}' ({values['title']}), hạn {fmt_date(due_on)}")
            audit(
                session,
                actor=actor,
                action="obligation.created",
                entity="obligation",
                entity_id=current.id,
                campaign_id=campaign_id,
                after={"code": code, "due_on": due_on},
            )
        else:
            changed = {k: v for k, v in values.items() if getattr(current, k) != v}
            if changed:
                before = {k: getattr(current, k) for k in changed}
                for key, value in changed.items():
                    setattr(current, key, value)
                visible = {k: v for k, v in changed.items() if k != "definition"}
                detail = (
                    ", ".join(f"{k} {_show(before[k])} → {_show(v)}" for k, v in visible.items()) or "nội dung biểu mẫu"
                )
                result.changes.append(f"Nghĩa vụ '{code}': {detail}")
                audit(
                    session,
                    actor=actor,
                    action="obligation.updated",
                    entity="obligation",
                    entity_id=current.id,
                    campaign_id=campaign_id,
                    before={k: before[k] for k in visible},
                    after=visible,
                )
        active.append(current)
    for stale in existing.values():  # removed from the file: deactivated, its submissions kept
        if stale.active:
            stale.active = False
            result.changes.append(f"Ngừng nghĩa vụ '{stale.code}' (không còn trong tệp; bài nộp được giữ)")
            audit(
                session,
                actor=actor,
                action="obligation.deactivated",
                entity="obligation",
                entity_id=stale.id,
                campaign_id=campaign_id,
                before={"active": True},
                after={"active": False},
            )
    session.flush()
    return active


def _apply_targets(
    session: Session, campaign_id: int, spec: CampaignSpec, result: LoadResult, actor: str, base_dir: Path
) -> None:
    existing = {t.code: t for t in session.exec(select(Target).where(Target.campaign_id == campaign_id)).scalars()}  # type: ignore[call-overload]
    for target in spec.targets:
        values = {
            "title": target.title,
            "rollup": target.rollup,
            "value": target.value,
            "unit_of_measure": target.unit,
            "deadline": target.deadline,
            "definition": target.model_dump(mode="json"),
            "quotas": target_quotas(target, base_dir),
        }
        current = existing.pop(target.code, None)
        if current is None:
            session.add(Target(campaign_id=campaign_id, code=target.code, **values))
            if not result.created:
                result.changes.append(f"Thêm chỉ tiêu '{target.code}'")
            continue
        changed = {k: v for k, v in values.items() if getattr(current, k) != v}
        if changed:
            before = {k: getattr(current, k) for k in changed if k != "definition"}
            for key, value in changed.items():
                setattr(current, key, value)
            result.changes.append(f"Chỉ tiêu '{target.code}' thay đổi")
            audit(
                session,
                actor=actor,
                action="target.updated",
                entity="target",
                entity_id=current.id,
                campaign_id=campaign_id,
                before=before,
                after={k: v for k, v in changed.items() if k != "definition"},
            )
    for stale in existing.values():
        result.changes.append(f"Bỏ chỉ tiêu '{stale.code}'")
        audit(
            session,
            actor=actor,
            action="target.deleted",
            entity="target",
            entity_id=stale.id,
            campaign_id=campaign_id,
            before={"code": stale.code, "value": stale.value},
        )
        session.delete(stale)


def _owing_units(session: Session, obligation: ObligationDef, low: str, high: str):
    """The units that owe an obligation: active, in the participating subtree, of its levels and sectors,
    matching its `where` selector (attributes, place in the tree, cluster)."""
    conditions = [Unit.path >= low, Unit.path < high, Unit.active.is_(True), Unit.level_code.in_(obligation.levels)]  # type: ignore[attr-defined]
    if obligation.definition.get("where"):
        conditions.append(selector_clause(session, obligation.definition["where"], load_attribute_schema()))
    if obligation.sectors:
        # Units without a sector (e.g. most directly-superior unions) owe sector-specific obligations too.
        conditions.append(Unit.sector.is_(None) | Unit.sector.in_(obligation.sectors))  # type: ignore[union-attr,attr-defined]
    return and_(*conditions)


def _apply_assignments(
    session: Session,
    campaign: Campaign,
    obligations: list[ObligationDef],
    root_id: int,
    owner_unit_id: int,
    result: LoadResult,
    actor: str,
) -> None:
    root_path = session.exec(select(Unit.path).where(Unit.id == root_id)).scalar_one()  # type: ignore[call-overload]
    low, high = subtree_range(root_path)
    now = utcnow()
    A = Assignment.__table__  # type: ignore[attr-defined]
    U = Unit.__table__  # type: ignore[attr-defined]
    for ob in obligations:
        assert ob.id is not None and campaign.id is not None
        due_at = end_of_day_utc(ob.due_on, campaign.timezone)
        owing = _owing_units(session, ob, low, high)
        reviewer = U.c.parent_id if ob.reviewer == "parent" else literal(owner_unit_id)
        had_rows = session.execute(select(A.c.id).where(A.c.obligation_id == ob.id).limit(1)).first() is not None
        new_units = [owing]
        if had_rows:
            # Only a re-load needs the anti-join; a new obligation inserts its whole owing set.
            new_units.append(not_(exists().where(and_(A.c.obligation_id == ob.id, A.c.unit_id == U.c.id))))
        created = session.execute(
            insert(A)
            .from_select(
                [
                    "campaign_id",
                    "obligation_id",
                    "unit_id",
                    "reviewer_unit_id",
                    "due_on",
                    "due_at",
                    "status",
                    "late",
                    "current_version",
                    "active",
                    "version",
                    "updated_at",
                ],
                select(
                    literal(campaign.id),
                    literal(ob.id),
                    U.c.id,
                    reviewer,
                    literal(ob.due_on),
                    literal(due_at),
                    literal("chua_gui"),
                    literal(False),
                    literal(0),
                    literal(True),
                    literal(1),
                    literal(now),
                ).where(*new_units),
            )
            .execution_options(preserve_rowcount=True)  # SQLAlchemy 2.1 keeps rowcount of INSERTs only when asked
        ).rowcount
        redated = deactivated = reactivated = 0
        if had_rows:  # a new obligation's rows were just made from the current plan: nothing to reconcile
            redated, deactivated, reactivated = _reconcile(session, ob, owing, due_at, now)
        for count, action, sentence in (
            (created, "assignments.created", "thêm {n} đơn vị phải nộp"),
            (redated, "assignments.redated", "đổi hạn của {n} đơn vị thành " + fmt_date(ob.due_on)),
            (deactivated, "assignments.deactivated", "{n} đơn vị không còn phải nộp"),
            (reactivated, "assignments.reactivated", "{n} đơn vị phải nộp trở lại"),
        ):
            if count:
                if not (result.created and action == "assignments.created"):
                    result.changes.append(f"Nghĩa vụ '{ob.code}': " + sentence.format(n=count))
                # One audit row per obligation and kind of change: the set is defined by the obligation.
                audit(
                    session,
                    actor=actor,
                    action=action,
                    entity="obligation",
                    entity_id=ob.id,
                    campaign_id=campaign.id,
                    after={"count": count, "due_on": ob.due_on},
                )
        result.assignments_created += created
        result.assignments_redated += redated
        result.assignments_deactivated += deactivated
        result.assignments_reactivated += reactivated
    # Obligations removed from the file: their assignments stop being owed (kept, with their submissions).
    inactive_obligations = select(ObligationDef.id).where(  # type: ignore[call-overload]
        ObligationDef.campaign_id == campaign.id,
        ObligationDef.active.is_(False),  # type: ignore[attr-defined]
    )
    result.assignments_deactivated += session.execute(
        update(A)
        .where(A.c.obligation_id.in_(inactive_obligations), A.c.active.is_(True))
        .values(active=False, updated_at=now)
    ).rowcount
    if result.created:
        total = session.execute(select(func.count()).select_from(A).where(A.c.campaign_id == campaign.id)).scalar_one()
        result.changes.append(f"Lập {total} nghĩa vụ của các đơn vị ({len(obligations)} loại nghĩa vụ)")


def _reconcile(session: Session, ob: ObligationDef, owing, due_at, now) -> tuple[int, int, int]:  # noqa: ANN001
    """Bring an obligation's existing assignments in line with the plan: due dates, who still owes it,
    and (for reviewer 'parent') the reviewer of units that moved."""
    A = Assignment.__table__  # type: ignore[attr-defined]
    U = Unit.__table__  # type: ignore[attr-defined]
    # Correlated EXISTS: a primary-key probe per assignment, which both SQLite and PostgreSQL
    # plan well (NOT IN over a large subquery degrades badly on PostgreSQL).
    still_owing = exists().where(U.c.id == A.c.unit_id, owing)
    redated = session.execute(
        update(A)
        .where(A.c.obligation_id == ob.id, A.c.due_on != ob.due_on)
        .values(
            due_on=ob.due_on,
            due_at=due_at,
            updated_at=now,
            late=and_(A.c.submitted_at.is_not(None), A.c.submitted_at > due_at),
        )
    ).rowcount
    deactivated = session.execute(
        update(A)
        .where(A.c.obligation_id == ob.id, A.c.active.is_(True), not_(still_owing))
        .values(active=False, updated_at=now)
    ).rowcount
    reactivated = session.execute(
        update(A)
        .where(A.c.obligation_id == ob.id, A.c.active.is_(False), still_owing)
        .values(active=True, updated_at=now)
    ).rowcount
    if ob.reviewer == "parent":  # a unit moved to another parent gets its new reviewer
        parent_of = select(U.c.parent_id).where(U.c.id == A.c.unit_id).scalar_subquery()
        session.execute(
            update(A)
            .where(A.c.obligation_id == ob.id, A.c.reviewer_unit_id.is_distinct_from(parent_of))
            .values(reviewer_unit_id=parent_of, updated_at=now)
        )
    return redated, deactivated, reactivated
