"""The reviewer's queue: reports waiting for the decision of the person's unit (the office: its subtree),
oldest first. One indexed query per page."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, func, select
from sqlmodel import Session

from thidua.models.submissions import ReviewStatus, Submission
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.services.campaigns import subtree_range
from thidua.web.permissions import Principal

PAGE_SIZE = 50


@dataclass(frozen=True)
class QueueFilters:
    obligation: str | None = None  # obligation code
    unit: str | None = None  # part of a unit's code or name
    late_only: bool = False
    page: int = 1


@dataclass(frozen=True)
class QueueRow:
    assignment_id: int
    assignment_version: int
    submission_version: int
    submitted_at: datetime
    late: bool
    unit_code: str
    unit_name: str
    obligation_code: str
    obligation_title: str
    kind: str
    due_on: date


def _scope(p: Principal):
    if p.is_office:
        low, high = subtree_range(p.unit_path)
        return and_(Unit.path > low, Unit.path < high)
    return Assignment.reviewer_unit_id == p.unit_id


def review_queue(session: Session, p: Principal, campaign_id: int, filters: QueueFilters) -> tuple[list[QueueRow], int]:
    conditions = [
        Submission.review_status == ReviewStatus.PENDING.value,
        Assignment.campaign_id == campaign_id,
        Assignment.status == "da_gui",
        Assignment.active.is_(True),
        _scope(p),
    ]
    if filters.obligation:
        conditions.append(ObligationDef.code == filters.obligation)
    if filters.unit:
        needle = f"%{filters.unit.strip().lower()}%"
        conditions.append(func.lower(Unit.code).like(needle) | func.lower(Unit.name).like(needle))
    if filters.late_only:
        conditions.append(Submission.late.is_(True))
    base = (
        select(Submission.id).select_from(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(*conditions)
    )
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(
        select(Assignment.id, Assignment.version, Submission.version, Submission.submitted_at, Submission.late,
               Unit.code, Unit.name, ObligationDef.code, ObligationDef.title, ObligationDef.kind, Assignment.due_on)
        .select_from(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(*conditions)
        .order_by(Submission.submitted_at, Submission.id)
        .limit(PAGE_SIZE).offset((max(filters.page, 1) - 1) * PAGE_SIZE)
    ).all()
    return [QueueRow(*r) for r in rows], total
