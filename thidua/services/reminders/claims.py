"""reminders: Claims and crash recovery."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import Integer, Update, and_, bindparam, or_, select, update
from sqlalchemy.engine import Connection, Engine

from thidua.audit import audit_many
from thidua.models.clock import utcnow
from thidua.models.outbox import OutboxStatus
from thidua.services.lookup import CampaignInfo, campaign_infos  # noqa: F401  (re-exported)

from .errors import DEFAULT_LEASE, O
from .planning import _audit_row


# ---------------------------------------------------------------------------------------------------
# Claims and crash recovery
# ---------------------------------------------------------------------------------------------------
def new_dispatcher_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Recovery:
    returned: int = 0  # claimed, never handed to SMTP → pending again
    unknown: int = 0  # may have reached the server → operators decide
    campaigns: set[int] = field(default_factory=set, compare=False)  # whose office hears about the unknown ones


def _process_gone(pid: int) -> bool:
    """True when no live process has this id on this machine (a zombie counts as gone: it sends nothing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


def _dead_owners_on_this_host(session: Connection) -> list[str]:
    """Dispatchers of this machine (their id is host:pid:random) whose process is gone: their claims need not
    wait for the lease to run out. Owners on other machines are left to their lease."""
    prefix = f"{socket.gethostname()}:"
    owners = (
        session.execute(select(O.c.lease_owner).where(O.c.status == OutboxStatus.CLAIMED.value).distinct())
        .scalars()
        .all()
    )  # a handful: one per dispatcher
    owners = [owner for owner in owners if owner and owner.startswith(prefix)]
    dead: list[str] = []
    for owner in owners:
        parts = owner[len(prefix) :].split(":")
        if parts and parts[0].isdigit() and int(parts[0]) != os.getpid() and _process_gone(int(parts[0])):
            dead.append(owner)
    return dead


_ANY_CLAIMED = select(O.c.id).where(O.c.status == OutboxStatus.CLAIMED.value).limit(1)


def recover_expired_claims(engine: Engine) -> Recovery:
    real_now = utcnow()
    with engine.begin() as session:
        if session.execute(_ANY_CLAIMED).first() is None:
            return Recovery()  # nothing is claimed: nothing to recover (the usual case between passes)
        dead = _dead_owners_on_this_host(session)
        lapsed = O.c.lease_until < real_now
        expired = and_(
            O.c.status == OutboxStatus.CLAIMED.value, or_(lapsed, O.c.lease_owner.in_(dead)) if dead else lapsed
        )
        unknown = session.execute(
            update(O)
            .where(expired, O.c.message_id.is_not(None))
            .values(
                status=OutboxStatus.UNKNOWN.value,
                lease_owner=None,
                lease_until=None,
                last_error="tiến trình gửi dừng đột ngột sau khi thư có thể đã tới máy chủ SMTP; "
                "không tự gửi lại (xem: thidua reminders resolve-unknown)",
            )
            .returning(O.c.id, O.c.key, O.c.campaign_id)
        ).all()
        returned = (
            session.execute(
                update(O)
                .where(expired, O.c.message_id.is_(None))
                .values(status=OutboxStatus.PENDING.value, lease_owner=None, lease_until=None)
                .returning(O.c.id)
            )
            .scalars()
            .all()
        )
        audits = [
            _audit_row(
                "outbox.unknown",
                "outbox",
                r.id,
                r.campaign_id,
                {"key": r.key, "status": "unknown"},
                note="giữ chỗ hết hạn sau khi thư đã được trao cho máy chủ SMTP",
            )
            for r in unknown
        ]
        if returned:
            audits.append(
                _audit_row(
                    "outbox.released",
                    "outbox",
                    None,
                    None,
                    {"count": len(returned), "ids": list(returned)},
                    note="giữ chỗ hết hạn, thư chưa gửi",
                )
            )
        audit_many(session, audits)
    return Recovery(
        returned=len(returned),
        unknown=len(unknown),
        campaigns={r.campaign_id for r in unknown if r.campaign_id is not None},
    )


def claim_batch(
    engine: Engine,
    *,
    owner: str,
    now: datetime,
    limit: int,
    lease: timedelta = DEFAULT_LEASE,
    campaign_id: int | None = None,
) -> list[int]:
    """Lease up to `limit` due pending rows to `owner`; returns their ids in sending order."""
    params = {"b_now": now, "b_limit": limit, "b_owner": owner, "b_until": utcnow() + lease}
    if campaign_id is not None:
        params["b_campaign"] = campaign_id
    with engine.begin() as session:
        ids = session.execute(_claim_statement(campaign_id is not None), params).scalars().all()
        if ids:
            audit_many(
                session,
                [
                    _audit_row(
                        "outbox.claimed",
                        "outbox",
                        None,
                        campaign_id,
                        {"count": len(ids), "owner": owner, "ids": sorted(ids)},
                    )
                ],
            )
    return sorted(ids)


@lru_cache(maxsize=None)
def _claim_statement(by_campaign: bool) -> Update:
    """The claim, built once per shape (every pass claims at least once, most often finding nothing due)."""
    conditions = [
        O.c.status == OutboxStatus.PENDING.value,
        O.c.scheduled_at <= bindparam("b_now", type_=O.c.scheduled_at.type),
    ]
    if by_campaign:
        conditions.append(O.c.campaign_id == bindparam("b_campaign"))
    # A CTE, evaluated once: as `id IN (subquery … FOR UPDATE SKIP LOCKED)` PostgreSQL may re-run the
    # subquery per row and claim more than `limit`.
    due = (
        select(O.c.id)
        .where(*conditions)
        .order_by(O.c.scheduled_at, O.c.id)
        .limit(bindparam("b_limit", type_=Integer()))
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    return (
        update(O)
        .where(O.c.id == due.c.id, O.c.status == OutboxStatus.PENDING.value)
        .values(
            status=OutboxStatus.CLAIMED.value,
            lease_owner=bindparam("b_owner"),
            lease_until=bindparam("b_until", type_=O.c.lease_until.type),
            message_id=None,
        )
        .returning(O.c.id)
    )
