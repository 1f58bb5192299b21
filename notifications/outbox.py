"""Putting mail into the outbox. Dispatch (claim, send, record) lives with the reminders flow."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from thidua.models.clock import utcnow
from thidua.models.outbox import OutboxMessage, OutboxStatus


def _insert_ignoring_duplicates(session: Session) -> Insert:
    """INSERT that skips rows whose key already exists (the key is the idempotency guarantee)."""
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=["key"])
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing(index_elements=["key"])
    return insert(table)


def enqueue(
    session: Session,
    *,
    key: str,
    kind: str,
    recipient: str,
    template: str,
    context: Mapping[str, Any],
    scheduled_at: datetime | None = None,
    campaign_id: int | None = None,
    unit_id: int | None = None,
    assignment_id: int | None = None,
    rung: str | None = None,
) -> bool:
    """Queue one e-mail in the caller's transaction. Returns False if the key was queued before."""
    row = {
        "key": key,
        "kind": kind,
        "recipient": recipient,
        "template": template,
        "context": dict(context),
        "scheduled_at": scheduled_at or utcnow(),
        "status": OutboxStatus.PENDING.value,
        "campaign_id": campaign_id,
        "unit_id": unit_id,
        "assignment_id": assignment_id,
        "rung": rung,
        "attempts": 0,
        "created_at": utcnow(),
    }
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return session.execute(_insert_ignoring_duplicates(session).returning(table.c.id), row).first() is not None


def enqueue_many(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Bulk variant for set-based producers; rows carry the same keys as enqueue's arguments."""
    now = utcnow()
    payload = [
        {
            "key": r["key"],
            "kind": r["kind"],
            "recipient": r["recipient"],
            "template": r["template"],
            "context": dict(r.get("context", {})),
            "scheduled_at": r.get("scheduled_at") or now,
            "status": OutboxStatus.PENDING.value,
            "campaign_id": r.get("campaign_id"),
            "unit_id": r.get("unit_id"),
            "assignment_id": r.get("assignment_id"),
            "rung": r.get("rung"),
            "attempts": 0,
            "created_at": now,
        }
        for r in rows
    ]
    if not payload:
        return 0
    # Count with RETURNING: psycopg reports no rowcount for a multi-row INSERT ... ON CONFLICT.
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    return len(session.execute(_insert_ignoring_duplicates(session).returning(table.c.id), payload).all())
