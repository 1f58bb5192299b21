"""Sending one outbox message right away (a sign-in link should not wait for the scheduler's next tick).

The message is claimed by its key exactly as the dispatcher claims a batch (pending → claimed under a lease,
audited) and handed to the reminders service's `send_batch`, so it is recorded like every other mail. If
anything goes wrong the row stays pending or claimed and the scheduler delivers or recovers it later.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from thidua.models.clock import utcnow
from thidua.models.outbox import OutboxMessage, OutboxStatus
from thidua.audit import audit_many
from thidua.settings import Settings

log = logging.getLogger("thidua.web")

SendNow = Callable[[str], None]
LEASE = timedelta(minutes=5)


def claim_by_key(engine: Engine, key: str, owner: str, now: datetime | None = None) -> list[int]:
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    now = now or utcnow()
    with Session(engine) as session, session.begin():
        ids = (
            session.execute(
                update(table)
                .where(table.c.key == key, table.c.status == OutboxStatus.PENDING.value, table.c.scheduled_at <= now)
                .values(status=OutboxStatus.CLAIMED.value, lease_owner=owner, lease_until=now + LEASE, message_id=None)
                .returning(table.c.id)
            )
            .scalars()
            .all()
        )
        if ids:
            audit_many(
                session,
                [
                    {
                        "actor": owner,
                        "action": "outbox.claimed",
                        "entity": "outbox",
                        "entity_id": ids[0],
                        "after": {"count": 1, "owner": owner, "key": key},
                        "at": now,
                    }
                ],
            )
    return list(ids)


def default_sender(settings: Settings, engine: Engine, clock: Callable[[], datetime] = utcnow) -> SendNow:
    """`clock`: the application's clock (one clock for the page that queued the mail and for sending it)."""

    def send_now(key: str) -> None:
        # Imported when first needed: the SMTP stack is not loaded by processes that never send.
        from thidua.services.reminders import RemindersError, new_dispatcher_id, send_batch, smtp_settings

        owner = f"web:{new_dispatcher_id()}"
        try:
            moment = clock()
            ids = claim_by_key(engine, key, owner, moment)
            if ids:
                asyncio.run(
                    send_batch(
                        engine,
                        ids,
                        owner=owner,
                        now=moment,
                        settings=settings,
                        smtp=smtp_settings(settings),
                        lease=LEASE,
                    )
                )
        except RemindersError as exc:  # SMTP refused the session or is misconfigured: the scheduler retries
            log.warning("Chưa gửi ngay được thư %s: %s", key, exc)

    return send_now
