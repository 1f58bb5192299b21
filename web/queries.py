"""Read models of the pages: what a unit owes, what waits for a reviewer, the province at a glance.
Each page is a handful of indexed queries; nothing here changes state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import Session

from thidua.models.tables import Assignment, Campaign, Level, ObligationDef, Unit
from thidua.services.campaigns import subtree_range
from thidua.services.status import _usual_level, breakdown_label, rollup_columns
from thidua.web.errors import NotFound
from thidua.web.permissions import Principal, UnitRef


def unit_ref(unit: Unit) -> UnitRef:
    assert unit.id is not None
    return UnitRef(id=unit.id, parent_id=unit.parent_id, path=unit.path)


def campaigns_for(session: Session, p: Principal) -> list[Campaign]:
    """Campaigns the person's unit takes part in, or (for the office) runs: newest first."""
    rows = session.execute(
        select(Campaign, Unit.path)
        .join(Unit, Unit.id == Campaign.root_unit_id)
        .order_by(Campaign.status, Campaign.year.desc(), Campaign.id.desc())
    ).all()
    return [c for c, root_path in rows if p.unit_path.startswith(root_path) or root_path.startswith(p.unit_path)]


def pick_campaign(session: Session, p: Principal, code: str | None) -> Campaign | None:
    campaigns = campaigns_for(session, p)
    if code:
        for campaign in campaigns:
            if campaign.code == code:
                return campaign
        raise NotFound(f"Không có chiến dịch mã '{code}' mà đơn vị của bạn tham gia.")
    active = [c for c in campaigns if c.status == "active"]
    return (active or campaigns or [None])[0]


@dataclass(frozen=True)
class OwedRow:
    assignment_id: int
    obligation_code: str
    obligation_title: str
    kind: str
    round_number: int | None
    opens_on: date | None
    due_on: date
    status: str
    submitted_at: datetime | None
    reviewed_at: datetime | None
    late: bool
    unit_id: int


def unit_obligations(session: Session, unit_id: int, campaign_id: int) -> list[OwedRow]:
    rows = session.execute(
        select(
            Assignment.id,
            ObligationDef.code,
            ObligationDef.title,
            ObligationDef.kind,
            ObligationDef.round_number,
            ObligationDef.opens_on,
            Assignment.due_on,
            Assignment.status,
            Assignment.submitted_at,
            Assignment.reviewed_at,
            Assignment.late,
            Assignment.unit_id,
        )
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(Assignment.unit_id == unit_id, Assignment.campaign_id == campaign_id, Assignment.active.is_(True))
        .order_by(Assignment.due_on, ObligationDef.code)
    ).all()
    return [OwedRow(*row) for row in rows]


@dataclass(frozen=True)
class AssignmentView:
    assignment: Assignment
    obligation: ObligationDef
    unit: Unit
    campaign: Campaign

    @property
    def fields(self) -> list[dict[str, Any]]:
        return list(self.obligation.definition.get("fields") or [])

    @property
    def review_required(self) -> bool:
        return bool(self.obligation.definition.get("review_required", True))


def assignment_view(session: Session, assignment_id: int) -> AssignmentView:
    row = session.execute(
        select(Assignment, ObligationDef, Unit, Campaign)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(Campaign, Campaign.id == Assignment.campaign_id)
        .where(Assignment.id == assignment_id)
    ).first()
    if row is None:
        raise NotFound(f"Không có nghĩa vụ số {assignment_id}.")
    return AssignmentView(*row)


def unit_by_id(session: Session, unit_id: int) -> Unit:
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound(f"Không có đơn vị số {unit_id}.")
    return unit


# ---------------------------------------------------------------------------------------------------
# Compliance: counts of assignments by status, grouped by level and by district
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Compliance:
    key: str
    label: str
    total: int
    submitted: int  # sent or accepted
    accepted: int
    returned: int
    overdue: int  # not submitted (or returned) and past the deadline
    late: int  # submitted, but after the deadline (never also overdue)

    @property
    def done_percent(self) -> float:
        return 100.0 * self.submitted / self.total if self.total else 0.0

    @property
    def missing(self) -> int:
        return self.total - self.submitted


def _count_columns(now: datetime):
    """The campaign's one roll-up definition (thidua.services.status.rollup_columns), named for this module."""
    owed, submitted, accepted, returned, overdue, late_submitted = rollup_columns(now)
    return (owed.element.label("total"), submitted, accepted, returned, overdue, late_submitted.element.label("late"))


def compliance_by_obligation(
    session: Session, campaign_id: int, scope_path: str, now: datetime
) -> list[tuple[ObligationDef, Compliance]]:
    low, high = subtree_range(scope_path)
    rows = session.execute(
        select(Assignment.obligation_id, *_count_columns(now))
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(
            Assignment.campaign_id == campaign_id,
            Assignment.active.is_(True),
            Unit.path >= low,
            Unit.path < high,
            ObligationDef.kind != "nomination_window",
        )  # nominations have their own pipeline
        .group_by(Assignment.obligation_id)
    ).all()
    obligations = {
        o.id: o
        for o in session.execute(select(ObligationDef).where(ObligationDef.campaign_id == campaign_id)).scalars()
    }
    out = []
    for row in rows:
        ob = obligations[row.obligation_id]
        out.append(
            (
                ob,
                Compliance(
                    ob.code,
                    ob.title,
                    row.total,
                    row.submitted or 0,
                    row.accepted or 0,
                    row.returned or 0,
                    row.overdue or 0,
                    row.late or 0,
                ),
            )
        )
    out.sort(key=lambda pair: (pair[0].due_on, pair[0].code))
    return out


def compliance_by_level(session: Session, obligation_id: int, scope_path: str, now: datetime) -> list[Compliance]:
    low, high = subtree_range(scope_path)
    rows = session.execute(
        select(Unit.level_code, *_count_columns(now))
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(
            Assignment.obligation_id == obligation_id, Assignment.active.is_(True), Unit.path >= low, Unit.path < high
        )
        .group_by(Unit.level_code)
    ).all()
    levels = {lv.code: lv for lv in session.execute(select(Level)).scalars()}
    out = [
        Compliance(
            r.level_code,
            levels[r.level_code].name if r.level_code in levels else r.level_code,
            r.total,
            r.submitted or 0,
            r.accepted or 0,
            r.returned or 0,
            r.overdue or 0,
            r.late or 0,
        )
        for r in rows
    ]
    out.sort(key=lambda c: levels[c.key].rank if c.key in levels else 99)
    return out


def compliance_by_branch(session: Session, obligation_id: int, scope: Unit, now: datetime) -> list[Compliance]:
    """One row per child of `scope` (for a province: each district), counting its whole subtree."""
    low, high = subtree_range(scope.path)
    width = len(scope.path) + 9  # the child's path: scope path + one fixed-width id
    branch = func.substr(Unit.path, 1, width)
    rows = session.execute(
        select(branch.label("branch"), *_count_columns(now))
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(
            Assignment.obligation_id == obligation_id,
            Assignment.active.is_(True),
            Unit.path > scope.path,
            Unit.path < high,
        )
        .group_by(branch)
    ).all()
    children = {u.path: u for u in session.execute(select(Unit).where(Unit.parent_id == scope.id)).scalars()}
    usual = _usual_level(children.values())
    out = []
    for r in rows:
        child = children.get(r.branch)
        if child is not None:
            out.append(
                Compliance(
                    child.code,
                    breakdown_label(child, usual),
                    r.total,
                    r.submitted or 0,
                    r.accepted or 0,
                    r.returned or 0,
                    r.overdue or 0,
                    r.late or 0,
                )
            )
    out.sort(key=lambda c: c.key)
    return out


@dataclass(frozen=True)
class LateRow:
    assignment_id: int
    unit_code: str
    unit_name: str
    due_on: date
    status: str


def overdue_list(
    session: Session, obligation_id: int, scope_path: str, now: datetime, limit: int = 50
) -> tuple[list[LateRow], int]:
    """Units past the deadline without a submission (first `limit`, by code) and how many there are."""
    low, high = subtree_range(scope_path)
    condition = and_(
        Assignment.obligation_id == obligation_id,
        Assignment.active.is_(True),
        Assignment.status.in_(("chua_gui", "tra_lai")),
        Assignment.due_at < now,
        Unit.path >= low,
        Unit.path < high,
    )
    total = session.execute(
        select(func.count()).select_from(Assignment).join(Unit, Unit.id == Assignment.unit_id).where(condition)
    ).scalar_one()
    rows = session.execute(
        select(Assignment.id, Unit.code, Unit.name, Assignment.due_on, Assignment.status)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(condition)
        .order_by(Unit.code)
        .limit(limit)
    ).all()
    return [LateRow(*r) for r in rows], total
