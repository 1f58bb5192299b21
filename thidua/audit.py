"""Append-only audit log. Every state change writes here in the same transaction as the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from thidua.models.clock import utcnow
from thidua.models.tables import AuditLog

# Built once: a fresh insert() per call costs a cache-key walk, and audit_many runs in every ledger write.
_INSERT = insert(AuditLog.__table__)


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: object = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    campaign_id: int | None = None,
    unit_id: int | None = None,
    note: str = "",
    at: datetime | None = None,
) -> None:
    session.add(
        AuditLog(
            at=at or utcnow(),
            actor=actor,
            action=action,
            entity=entity,
            entity_id=None if entity_id is None else str(entity_id),
            before=_jsonable(before),
            after=_jsonable(after),
            campaign_id=campaign_id,
            unit_id=unit_id,
            note=note,
        )
    )


def audit_many(session: Session | Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Bulk audit through Core (one executemany) for set-based changes such as imports; in the transaction of
    `session`, an ORM Session or a Core Connection."""
    now = utcnow()
    payload = [
        {
            "at": row.get("at", now),
            "actor": row["actor"],
            "action": row["action"],
            "entity": row["entity"],
            "entity_id": None if row.get("entity_id") is None else str(row["entity_id"]),
            "before": _jsonable(row.get("before")),
            "after": _jsonable(row.get("after")),
            "campaign_id": row.get("campaign_id"),
            "unit_id": row.get("unit_id"),
            "note": row.get("note", ""),
        }
        for row in rows
    ]
    if payload:
        session.execute(_INSERT, payload)  # Core executemany, not the ORM bulk path
    return len(payload)


def _jsonable(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    out = {}
    for key, item in value.items():
        if isinstance(item, datetime):
            item = item.isoformat()
        elif hasattr(item, "isoformat"):
            item = item.isoformat()
        out[key] = item
    return out
