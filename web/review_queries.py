"""The reviewer's queue: reports waiting for the decision of the person's unit (the office: its subtree),
oldest first. One indexed query per page."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlmodel import Session

from thidua.models.forms import NUMERIC_TYPES, format_value
from thidua.models.spec.campaign import FormField
from thidua.models.submissions import ReviewStatus, Submission
from thidua.models.tables import Assignment, ObligationDef, Unit
from thidua.services.campaigns import subtree_range
from thidua.web.permissions import Principal

PAGE_SIZE = 50
KEY_FIGURES = 4  # the form's main numeric fields shown on the queue, at most


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
    figures: tuple[tuple[str, str], ...] = ()  # (label, value as people read it): the report's key figures


def key_figures(fields: list[FormField], data: dict[str, Any], limit: int = KEY_FIGURES) -> tuple[tuple[str, str], ...]:
    """The report's main numeric fields: the numbers it gives, required fields first, in the form's order
    (text answers are read on the report's own page)."""
    numeric = [f for f in fields if f.type in NUMERIC_TYPES and data.get(f.code) is not None]
    ordered = [f for f in numeric if f.required] + [f for f in numeric if not f.required]
    return tuple((f.label, format_value(f, data[f.code])) for f in ordered[:limit])


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
        select(Submission.id)
        .select_from(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(*conditions)
    )
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    rows = session.execute(
        select(
            Assignment.id,
            Assignment.version,
            Submission.version,
            Submission.submitted_at,
            Submission.late,
            Unit.code,
            Unit.name,
            ObligationDef.code,
            ObligationDef.title,
            ObligationDef.kind,
            Assignment.due_on,
            Submission.data,
            ObligationDef.id,
        )
        .select_from(Submission)
        .join(Assignment, Assignment.id == Submission.assignment_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .where(*conditions)
        .order_by(Submission.submitted_at, Submission.id)
        .limit(PAGE_SIZE)
        .offset((max(filters.page, 1) - 1) * PAGE_SIZE)
    ).all()
    table = ObligationDef.__table__  # type: ignore[attr-defined]
    definitions: dict[int, dict[str, Any]] = (
        dict(
            session.execute(  # type: ignore[arg-type]
                select(table.c.id, table.c.definition).where(table.c.id.in_({r[-1] for r in rows}))
            ).all()
        )
        if rows
        else {}
    )
    fields = {
        ob_id: [FormField.model_validate(f) for f in (definition or {}).get("fields") or []]
        for ob_id, definition in definitions.items()
    }
    return [replace(QueueRow(*r[:-2]), figures=key_figures(fields[r[-1]], r[-2] or {})) for r in rows], total
