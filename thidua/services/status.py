"""Who owes what: roll-ups of assignments over the unit tree, set-based over the materialised path.

The status report and the plan use SQLAlchemy Core over name-only table clauses (the columns they read), not
the ORM classes: `thidua status` then starts without loading SQLModel and every table class (~0.5 s of a cold
start). tests/campaigns/test_status_rollup.py checks these clauses against the models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Integer, and_, case, column, func, select, table

from thidua.errors import NotFoundError
from thidua.models.clock import end_of_day_utc, utc_to_local, utcnow
from thidua.models.treepath import subtree_range
from thidua.models.status import SUBMITTED_STATUSES

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    from thidua.models.rounds import RoundOfDay
    from thidua.models.tables import Campaign, Unit

SEGMENT = 9  # width of one path segment: 8 digits and a dot
_UTC = DateTime(timezone=True)  # binds and reads as the models' UTCDateTime does for aware UTC values

ASSIGNMENT = table(
    "assignment",
    column("id", Integer),
    column("campaign_id", Integer),
    column("obligation_id", Integer),
    column("unit_id", Integer),
    column("status"),
    column("late", Boolean),
    column("due_on", Date),
    column("due_at", _UTC),
    column("active", Boolean),
)
SUBMISSION = table(
    "submission",
    column("id", Integer),
    column("assignment_id", Integer),
    column("version", Integer),
    column("submitted_at", _UTC),
    column("reviewed_at", _UTC),
    column("review_status"),
    column("late", Boolean),
)
UNIT = table(
    "unit",
    column("id", Integer),
    column("code"),
    column("name"),
    column("level_code"),
    column("parent_id", Integer),
    column("path"),
    column("active", Boolean),
)
CAMPAIGN = table("campaign", column("id", Integer), column("code"), column("timezone"), column("root_unit_id", Integer))
CAMPAIGN_SPEC = table("campaign", column("id", Integer), column("spec", JSON))
ROUND = table(
    "round",
    column("campaign_id", Integer),
    column("number", Integer),
    column("name"),
    column("starts_on", Date),
    column("ends_on", Date),
)
LEVEL = table("level", column("code"), column("name"), column("short_name"), column("rank", Integer))
OBLIGATION = table("obligation", column("id", Integer), column("campaign_id", Integer), column("code"), column("title"))
CORE_TABLES = (ASSIGNMENT, SUBMISSION)


def _model_tables() -> tuple[Any, Any]:
    """The models' assignment and submission tables (what callers outside this module join and correlate on)."""
    from thidua.models.submissions import Submission
    from thidua.models.tables import Assignment

    return Assignment.__table__, Submission.__table__  # type: ignore[attr-defined]


class NotFound(NotFoundError, LookupError):
    """A campaign, unit or level named by the user does not exist."""


@dataclass
class Counts:
    owed: int = 0
    submitted: int = 0  # sent or accepted
    accepted: int = 0
    returned: int = 0
    overdue: int = 0  # not submitted (never sent, or returned) and past the deadline
    late_submitted: int = 0  # submitted, first version after the deadline

    def add(self, other: "Counts") -> None:
        self.owed += other.owed
        self.submitted += other.submitted
        self.accepted += other.accepted
        self.returned += other.returned
        self.overdue += other.overdue
        self.late_submitted += other.late_submitted

    @property
    def late(self) -> int:
        """Chậm: overdue or submitted late (disjoint)."""
        return self.overdue + self.late_submitted

    @property
    def percent_done(self) -> float:
        return 100.0 * self.submitted / self.owed if self.owed else 0.0


@dataclass
class StatusRow:
    key: str  # level code or unit code
    label: str
    counts: Counts


@dataclass
class StatusReport:
    campaign_code: str
    scope_code: str
    scope_name: str
    at: datetime
    total: Counts
    by_level: list[StatusRow] = field(default_factory=list)
    by_group: list[StatusRow] = field(default_factory=list)  # per child of the scope (e.g. each district)
    group_level: str | None = None
    tree_on: date | None = None  # grouped by the tree as it stood on this day (None: today's tree)
    unplaced: Counts | None = None  # tree_on: work now held by units that did not exist yet on that day
    round: RoundOfDay | None = None  # the round `at` falls in, by the campaign's boundary rule


def get_campaign(session: Session, code: str) -> Campaign:
    from thidua.services import lookup

    return lookup.get_campaign(session, code, error=NotFound)


def get_unit(session: Session, code: str) -> Unit:
    from thidua.services import lookup

    return lookup.get_unit(session, code, error=NotFound)


def campaign_row(db: Session | Connection, code: str) -> Any:
    """The campaign's id, code, timezone and root_unit_id (a row, no ORM)."""
    row = db.execute(select(CAMPAIGN).where(CAMPAIGN.c.code == code)).first()
    if row is None:
        raise NotFound(f"không có chiến dịch mã '{code}'")
    return row


def _unit_row(db: Session | Connection, *, code: str | None = None, unit_id: int | None = None) -> Any:
    condition = UNIT.c.code == code if code is not None else UNIT.c.id == unit_id
    row = db.execute(select(UNIT).where(condition)).first()
    if row is None:
        raise NotFound(f"không có đơn vị mã '{code}'" if code is not None else f"không có đơn vị số {unit_id}")
    return row


def state_as_of(now: datetime | None, tables: tuple[Any, Any] | None = None):
    """(status, late) of an assignment as SQL expressions: the stored columns, or — `now` given — as things
    stood at `now`, rebuilt from the submission history (a version sent later, or a review made later,
    does not count yet). Correlated on the assignment table of `tables` (assignment, submission), by default
    the models' Assignment.__table__."""
    A, S = tables or _model_tables()
    if now is None:
        return A.c.status, A.c.late
    reviewed = S.c.reviewed_at <= now
    latest = (
        select(
            case(
                (and_(reviewed, S.c.review_status == "da_duyet"), "da_duyet"),
                (and_(reviewed, S.c.review_status == "tra_lai"), "tra_lai"),
                else_="da_gui",
            )
        )
        .where(S.c.assignment_id == A.c.id, S.c.submitted_at <= now)
        .order_by(S.c.version.desc())
        .limit(1)
        .correlate(A)
        .scalar_subquery()
    )
    first_late = (
        select(S.c.late)
        .where(S.c.assignment_id == A.c.id, S.c.version == 1, S.c.submitted_at <= now)
        .correlate(A)
        .scalar_subquery()
    )
    # An assignment without any submission row keeps its stored status (e.g. set by an import of old data).
    has_history = select(S.c.id).where(S.c.assignment_id == A.c.id).correlate(A).exists()
    return (
        case((has_history, func.coalesce(latest, "chua_gui")), else_=A.c.status),
        case((has_history, func.coalesce(first_late, False)), else_=A.c.late),
    )


def rollup_columns(
    now: datetime | ColumnElement[Any], *, as_of: datetime | None = None, tables: tuple[Any, Any] | None = None
):
    """THE roll-up definition, used by the CLI status, the web dashboards, the office digest and the reports:
    owed (active assignments), submitted (sent or accepted), accepted, returned, overdue (not submitted — never
    sent, or returned — and past its deadline at `now`), late_submitted (submitted, its first version after the
    deadline). Overdue and late_submitted never overlap; "chậm" is their sum. `tables`: (assignment, submission)
    to read, by default the models' tables. `now` may be a bound parameter (a statement built once)."""
    tables = tables or _model_tables()
    A = tables[0]
    status, late = state_as_of(as_of, tables)
    submitted = status.in_(SUBMITTED_STATUSES)
    return (
        func.count().label("owed"),
        func.sum(case((submitted, 1), else_=0)).label("submitted"),
        func.sum(case((status == "da_duyet", 1), else_=0)).label("accepted"),
        func.sum(case((status == "tra_lai", 1), else_=0)).label("returned"),
        func.sum(case((and_(~submitted, A.c.due_at < now), 1), else_=0)).label("overdue"),
        func.sum(case((and_(submitted, late.is_(True)), 1), else_=0)).label("late_submitted"),
    )


def _counts(row) -> Counts:  # noqa: ANN001
    return Counts(
        int(row.owed or 0),
        int(row.submitted or 0),
        int(row.accepted or 0),
        int(row.returned or 0),
        int(row.overdue or 0),
        int(row.late_submitted or 0),
    )


def status_report(
    session: Session | Connection,
    campaign_code: str,
    *,
    unit_code: str | None = None,
    level: str | None = None,
    obligation_code: str | None = None,
    now: datetime | None = None,
    as_of: bool = False,
    tree_on: date | None = None,
) -> StatusReport:
    """Owed / submitted / accepted / returned / overdue / late per level and per child unit of the scope, at
    `now`. `as_of`: as things stood at `now` (submissions and reviews made later do not count yet).
    `tree_on`: units grouped by the tree as it stood on that day (unit versions; reorganisations)."""
    now = now or utcnow()
    campaign = campaign_row(session, campaign_code)
    if tree_on is not None:
        return _status_on_tree(
            session,
            campaign,
            tree_on,
            unit_code=unit_code,
            level=level,
            obligation_code=obligation_code,
            now=now,
            as_of=as_of,
        )
    scope = _unit_row(session, code=unit_code) if unit_code else _unit_row(session, unit_id=campaign.root_unit_id)
    A, U = ASSIGNMENT, UNIT
    low, high = subtree_range(scope.path)
    where = [A.c.campaign_id == campaign.id, A.c.active.is_(True), U.c.path >= low, U.c.path < high]
    if level:
        _check_level(session, level)
        where.append(U.c.level_code == level)
    if obligation_code:
        where.append(_obligation_filter(session, campaign, obligation_code))
    joined = A.join(U, U.c.id == A.c.unit_id)
    # One grouped scan: by the child of the scope each unit sits under (a path prefix) and by level;
    # the total, the per-level and the per-child figures are sums of these cells.
    child_prefix = func.substr(U.c.path, 1, len(scope.path) + SEGMENT)
    cells = session.execute(
        select(
            child_prefix.label("prefix"),
            U.c.level_code,
            *rollup_columns(now, as_of=now if as_of else None, tables=CORE_TABLES),
        )
        .select_from(joined)
        .where(*where)
        .group_by(child_prefix, U.c.level_code)
    ).all()
    total, by_level, per_prefix = _sum_cells(session, cells)
    children = {c.path: c for c in session.execute(select(U).where(U.c.parent_id == scope.id))}
    group_level = _usual_level(children.values())
    by_group = sorted(
        (
            StatusRow(children[prefix].code, breakdown_label(children[prefix], group_level), counts)
            for prefix, counts in per_prefix.items()
            if prefix in children
        ),
        key=lambda row: row.key,
    )
    return StatusReport(
        campaign.code,
        scope.code,
        scope.name,
        now,
        total,
        by_level,
        by_group,
        group_level,
        round=round_at(session, campaign, now),
    )


def round_at(session: Session | Connection, campaign: Any, moment: datetime) -> RoundOfDay | None:
    """The round the moment's local day belongs to, by the campaign's declared boundary rule."""
    return round_on_day(session, campaign.id, utc_to_local(moment, campaign.timezone).date())


def round_on_day(session: Session | Connection, campaign_id: int, day: date) -> RoundOfDay | None:
    """The round `day` belongs to under the campaign's `round_boundary` rule (a shared boundary day goes to the
    earlier or to the later round); None outside every round. Core only (`thidua status` loads no ORM);
    services.lookup.round_of is this."""
    from thidua.models.rounds import RoundOfDay, round_of_day

    spec = session.execute(select(CAMPAIGN_SPEC.c.spec).where(CAMPAIGN_SPEC.c.id == campaign_id)).scalar()
    rule = str((spec or {}).get("round_boundary") or "earlier_round")
    rounds = [
        RoundOfDay(r.number, r.name, r.starts_on, r.ends_on, rule)
        for r in session.execute(select(ROUND).where(ROUND.c.campaign_id == campaign_id))
    ]
    number = round_of_day(day, rounds, rule)
    return next((r for r in rounds if r.number == number), None)


def _sum_cells(session: Session | Connection, cells) -> tuple[Counts, list[StatusRow], dict[str, Counts]]:  # noqa: ANN001
    """The grouped (child prefix, level) cells summed into the total, one row per level (in rank order) and the
    counts per child prefix."""
    total, per_level, per_prefix = Counts(), {}, {}
    for cell in cells:
        counts = _counts(cell)
        for bucket in (
            total,
            per_level.setdefault(cell.level_code, Counts()),
            per_prefix.setdefault(cell.prefix, Counts()),
        ):
            bucket.add(counts)
    levels = {lv.code: lv for lv in session.execute(select(LEVEL))}
    by_level = sorted(
        (StatusRow(code, levels[code].short_name or levels[code].name, counts) for code, counts in per_level.items()),
        key=lambda row: levels[row.key].rank,
    )
    return total, by_level, per_prefix


def _group_label(unit) -> str:  # noqa: ANN001
    """An ended unit (kept under its successor, with its past work) is named as such."""
    return unit.name if unit.active else f"{unit.name} (đã ngừng hoạt động)"


def _check_level(session: Session | Connection, level: str) -> None:
    if session.execute(select(LEVEL.c.code).where(LEVEL.c.code == level)).first() is None:
        raise NotFound(f"không có cấp '{level}'")


def _obligation_filter(session: Session | Connection, campaign: Any, obligation_code: str):  # noqa: ANN202
    O = OBLIGATION  # noqa: E741
    obligation_id = (
        session.execute(select(O.c.id).where(O.c.campaign_id == campaign.id, O.c.code == obligation_code))
        .scalars()
        .first()
    )
    if obligation_id is None:
        raise NotFound(f"chiến dịch '{campaign.code}' không có nghĩa vụ '{obligation_code}'")
    return ASSIGNMENT.c.obligation_id == obligation_id


def _status_on_tree(
    session: Any,
    campaign: Any,
    day: date,
    *,
    unit_code: str | None,
    level: str | None,
    obligation_code: str | None,
    now: datetime,
    as_of: bool,
) -> StatusReport:
    """status_report over the tree of `day`: the scope, its children and every unit's place as they were."""
    from thidua.services.unit_history import scope_as_of, units_as_of

    scope = scope_as_of(session, day, unit_code=unit_code, root_unit_id=campaign.root_unit_id)
    if scope is None:
        raise NotFound(f"đơn vị '{unit_code}' chưa tồn tại vào ngày {day:%d/%m/%Y}")
    A = ASSIGNMENT
    low, high = subtree_range(scope.path)
    view = units_as_of(day, path_range=(low, high))
    where = [A.c.campaign_id == campaign.id, A.c.active.is_(True)]
    if level:
        _check_level(session, level)
        where.append(view.c.level_code == level)
    if obligation_code:
        where.append(_obligation_filter(session, campaign, obligation_code))
    columns = rollup_columns(now, as_of=now if as_of else None, tables=CORE_TABLES)
    child_prefix = func.substr(view.c.path, 1, len(scope.path) + SEGMENT)
    cells = session.execute(
        select(child_prefix.label("prefix"), view.c.level_code, *columns)
        .select_from(A.join(view, view.c.unit_id == A.c.unit_id))
        .where(*where)
        .group_by(child_prefix, view.c.level_code)
    ).all()
    total, by_level, per_prefix = _sum_cells(session, cells)
    whole = units_as_of(day)
    children = {c.path: c for c in session.execute(select(whole).where(whole.c.parent_id == scope.id)).all()}
    by_group = sorted(
        (
            StatusRow(children[p].code, _group_label(children[p]), counts)
            for p, counts in per_prefix.items()
            if p in children
        ),
        key=lambda row: row.key,
    )
    group_level = next(iter(children.values())).level_code if children else None
    # Work that a successor created after `day` holds now has no place in that tree: shown apart, not lost.
    unplaced_cells = session.execute(
        select(*columns)
        .select_from(A)
        .where(
            A.c.campaign_id == campaign.id,
            A.c.active.is_(True),
            A.c.unit_id.not_in(select(whole.c.unit_id)),
            *([_obligation_filter(session, campaign, obligation_code)] if obligation_code else []),
        )
    ).one()
    unplaced = _counts(unplaced_cells)
    return StatusReport(
        campaign.code,
        scope.code,
        scope.name,
        now,
        total,
        by_level,
        by_group,
        group_level,
        tree_on=day,
        unplaced=unplaced if unplaced.owed else None,
        round=round_at(session, campaign, now),
    )


def _usual_level(children) -> str | None:  # noqa: ANN001
    levels = [c.level_code for c in children]
    return max(set(levels), key=levels.count) if levels else None


def breakdown_label(unit, group_level: str | None) -> str:  # noqa: ANN001
    """A unit of another tier directly under the scope (a CĐCS under the province, among the districts) gets
    its own breakdown row, marked "trực thuộc"; an ended unit is named as such."""
    label = _group_label(unit)
    return f"{label} (trực thuộc)" if group_level and unit.level_code != group_level else label


@dataclass
class PlanItem:
    due_on: date
    obligation_code: str
    obligation_title: str
    unit_code: str
    unit_name: str
    status: str


def upcoming_deadlines(
    session: Session | Connection,
    campaign_code: str,
    *,
    days: int,
    today: date,
    unit_code: str | None = None,
    limit: int = 5000,
) -> list[PlanItem]:
    """Deadlines in [today, today + days] still owed (not yet submitted), per unit."""
    campaign = campaign_row(session, campaign_code)
    scope = _unit_row(session, code=unit_code) if unit_code else _unit_row(session, unit_id=campaign.root_unit_id)
    low, high = subtree_range(scope.path)
    A, U, O = ASSIGNMENT, UNIT, OBLIGATION
    rows = session.execute(
        select(A.c.due_on, O.c.code, O.c.title, U.c.code.label("unit_code"), U.c.name, A.c.status)
        .select_from(A.join(U, U.c.id == A.c.unit_id).join(O, O.c.id == A.c.obligation_id))
        .where(
            A.c.campaign_id == campaign.id,
            A.c.active.is_(True),
            A.c.status.not_in(SUBMITTED_STATUSES),
            A.c.due_at >= end_of_day_utc(today - timedelta(days=1), campaign.timezone),
            A.c.due_on <= today + timedelta(days=days),
            U.c.path >= low,
            U.c.path < high,
        )
        .order_by(A.c.due_on, O.c.code, U.c.path)
        .limit(limit)
    ).all()
    return [PlanItem(r.due_on, r.code, r.title, r.unit_code, r.name, r.status) for r in rows]
