"""Queuing mail is idempotent by key, and says how many rows were new, on both databases."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from thidua.models.outbox import OutboxMessage
from thidua.notifications.outbox import enqueue, enqueue_many


def _rows(n: int, prefix: str = "k") -> list[dict]:
    return [
        {
            "key": f"{prefix}{i}",
            "kind": "generic",
            "recipient": f"u{i}@example.vn",
            "template": "generic",
            "context": {"i": i},
        }
        for i in range(n)
    ]


def test_enqueue_counts_only_new_keys(any_engine):
    with Session(any_engine) as session:
        assert enqueue_many(session, _rows(5)) == 5
        assert enqueue_many(session, _rows(7)) == 2  # k0..k4 are already queued
        assert (
            enqueue(session, key="k0", kind="generic", recipient="x@example.vn", template="generic", context={})
            is False
        )
        assert (
            enqueue(session, key="moi", kind="generic", recipient="x@example.vn", template="generic", context={})
            is True
        )
        session.commit()
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 8
