"""reminders: Campaign context (services/campaign_context.py), with this service's not-found error; Owing assignments, grouped by (obligation, due date): the unit of planning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, func, literal, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from thidua.models.clock import end_of_day_utc
from thidua.models.reminders import (
    Occurrence,
    schedule,
)
from thidua.models.spec.reminders import Ladder
from thidua.models.status import SUBMITTED_STATUSES, AssignmentStatus
from thidua.services.campaign_context import (
    CampaignContext,
    active_campaign_contexts,
)
from thidua.services.campaign_context import campaign_context as shared_campaign_context
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)

from .errors import OB, A, CampaignNotFound, O, U


# ---------------------------------------------------------------------------------------------------
# Campaign context (services/campaign_context.py), with this service's not-found error
# ---------------------------------------------------------------------------------------------------
def campaign_context(session: Session, code: str) -> CampaignContext:
    return shared_campaign_context(session, code, error=CampaignNotFound)


def _active_campaigns(session: Session, code: str | None) -> list[CampaignContext]:
    if code is not None:
        return [campaign_context(session, code)]
    return active_campaign_contexts(session)


# ---------------------------------------------------------------------------------------------------
# Owing assignments, grouped by (obligation, due date): the unit of planning
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ObligationGroup:
    obligation_id: int
    code: str
    title: str
    due_on: date
    opens_on: date | None
    ladder: Ladder

    def occurrences(self, ctx: CampaignContext) -> list[Occurrence]:
        not_before = max(self.opens_on or ctx.starts_on, ctx.starts_on)
        return schedule(self.ladder, self.due_on, ctx.calendar, ctx.timezone, not_before=not_before)

    def due_at(self, ctx: CampaignContext) -> datetime:
        return end_of_day_utc(self.due_on, ctx.timezone)


def _owing(group: ObligationGroup, as_of: datetime | None = None):
    """Assignments of a group that still owe a submission (checked again at send time); `as_of`: as things
    stood then (a preview of a past moment)."""
    from thidua.services.status import state_as_of

    status, _ = state_as_of(as_of)
    return and_(
        A.c.obligation_id == group.obligation_id,
        A.c.due_on == group.due_on,
        A.c.active.is_(True),
        status.not_in(SUBMITTED_STATUSES),
        U.c.active.is_(True),
    )


_OWING_STATUSES = tuple(s.value for s in AssignmentStatus if s.value not in SUBMITTED_STATUSES)


def obligation_groups(
    session: Session,
    ctx: CampaignContext,
    as_of: datetime | None = None,
    *,
    due_between: tuple[date, date] | None = None,
) -> list[ObligationGroup]:
    """The (obligation, due date) groups with owing assignments; `due_between` (first, last due date): only
    those groups, read through the (status, due_at) index instead of every assignment of the campaign."""
    from thidua.services.status import state_as_of

    if not ctx.active:
        return []
    if as_of is None:  # planning: the statement built once, the campaign and window as parameters
        params: dict[str, Any] = {"p_campaign_id": ctx.id}
        if due_between is not None:
            first, last = due_between
            params.update(
                p_first=first,
                p_last=last,
                p_first_at=end_of_day_utc(first, ctx.timezone),
                p_last_at=end_of_day_utc(last, ctx.timezone),
            )
        rows = session.execute(_groups_statement(due_between is not None), params).all()
        return _groups_of(ctx, rows)
    status, _ = state_as_of(as_of)
    window = []
    if due_between is not None:
        first, last = due_between
        window = [
            A.c.due_on.between(first, last),
            # The same range on the indexed columns (due_at is the end of the due day in the campaign's zone).
            status.in_(_OWING_STATUSES) if as_of is None else true(),
            A.c.due_at.between(end_of_day_utc(first, ctx.timezone), end_of_day_utc(last, ctx.timezone)),
        ]
    rows = session.execute(
        select(OB.c.id, OB.c.code, OB.c.title, OB.c.opens_on, OB.c.ladder, A.c.due_on)
        .select_from(A.join(OB, OB.c.id == A.c.obligation_id).join(U, U.c.id == A.c.unit_id))
        .where(
            A.c.campaign_id == ctx.id,
            OB.c.active.is_(True),
            A.c.active.is_(True),
            status.not_in(SUBMITTED_STATUSES),
            U.c.active.is_(True),
            *window,
        )
        .group_by(OB.c.id, OB.c.code, OB.c.title, OB.c.opens_on, OB.c.ladder, A.c.due_on)
        .order_by(A.c.due_on, OB.c.id)
    ).all()
    return _groups_of(ctx, rows)


def _groups_of(ctx: CampaignContext, rows: Any) -> list[ObligationGroup]:
    groups = []
    for row in rows:
        ladder = ctx.ladders.get(row.ladder or "")
        if ladder is not None:
            groups.append(ObligationGroup(row.id, row.code, row.title, row.due_on, row.opens_on, ladder))
    return groups


@lru_cache(maxsize=None)
def _groups_statement(windowed: bool):
    """`obligation_groups` as things stand (the stored status), built once: `p_campaign_id`, and with
    `windowed` the due dates `p_first`..`p_last` and the same range of due_at `p_first_at`..`p_last_at`."""
    window = []
    if windowed:
        window = [
            A.c.due_on.between(bindparam("p_first", type_=A.c.due_on.type), bindparam("p_last", type_=A.c.due_on.type)),
            A.c.status.in_(_OWING_STATUSES),
            A.c.due_at.between(
                bindparam("p_first_at", type_=A.c.due_at.type), bindparam("p_last_at", type_=A.c.due_at.type)
            ),
        ]
    return (
        select(OB.c.id, OB.c.code, OB.c.title, OB.c.opens_on, OB.c.ladder, A.c.due_on)
        .select_from(A.join(OB, OB.c.id == A.c.obligation_id).join(U, U.c.id == A.c.unit_id))
        .where(
            A.c.campaign_id == bindparam("p_campaign_id", type_=A.c.campaign_id.type),
            OB.c.active.is_(True),
            A.c.active.is_(True),
            A.c.status.not_in(SUBMITTED_STATUSES),
            U.c.active.is_(True),
            *window,
        )
        .group_by(OB.c.id, OB.c.code, OB.c.title, OB.c.opens_on, OB.c.ladder, A.c.due_on)
        .order_by(A.c.due_on, OB.c.id)
    )


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _email_elements(session: Session, emails_column: Any, name: str):
    """The addresses of a unit's JSON e-mail list as rows (column `value`), per dialect."""
    return _email_elements_for(_dialect(session), emails_column, name)


def _email_elements_for(dialect: str, emails_column: Any, name: str):
    if dialect == "postgresql":
        return func.json_array_elements_text(emails_column).table_valued("value").lateral(name)
    return func.json_each(emails_column).table_valued("value").alias(name)


def _insert_ignoring_duplicates(session: Session):
    return _insert_ignoring_duplicates_for(_dialect(session))


def _insert_ignoring_duplicates_for(dialect: str):
    if dialect == "postgresql":
        return pg_insert(O).on_conflict_do_nothing(index_elements=["key"])
    return sqlite_insert(O).on_conflict_do_nothing(index_elements=["key"])


def _count_inserted(session: Session, statement: Any) -> int:
    # RETURNING, because psycopg reports no rowcount for INSERT … SELECT … ON CONFLICT through SQLAlchemy.
    return len(session.execute(statement.returning(O.c.id)).all())


_PLANNED_COLUMNS = [
    "key",
    "kind",
    "campaign_id",
    "assignment_id",
    "unit_id",
    "rung",
    "recipient",
    "template",
    "context",
    "scheduled_at",
    "status",
    "attempts",
    "created_at",
]


def _const(value: Any, column: str):
    return literal(value, O.c[column].type)


def _param(column: str):
    """A value of outbox column `column` given at execution (`p_<column>`), in a statement built once."""
    return bindparam(f"p_{column}", type_=O.c[column].type)


def _owing_now():
    """`_owing(group)` (as things stand) with the group as parameters `p_obligation_id`, `p_due_on`."""
    return and_(
        A.c.obligation_id == bindparam("p_obligation_id", type_=A.c.obligation_id.type),
        A.c.due_on == bindparam("p_due_on", type_=A.c.due_on.type),
        A.c.active.is_(True),
        A.c.status.not_in(SUBMITTED_STATUSES),
        U.c.active.is_(True),
    )


def _owing_params(group: ObligationGroup) -> dict[str, Any]:
    return {"p_obligation_id": group.obligation_id, "p_due_on": group.due_on}
