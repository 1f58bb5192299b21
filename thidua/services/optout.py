"""Stopping non-mandatory mail (RFC 8058 one-click unsubscribe and the page behind it).

A reminder carries a link that stops the reminders of its obligation for that address; digests carry one
that stops every reminder and digest of the campaign for that address. Sign-in links and nomination steps
are mandatory (a person's own action or decision) and carry none. The link holds a signed token (address,
campaign, assignment), so it needs no sign-in: the mail provider POSTs to it without cookies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from thidua.audit import audit
from thidua.db import owns_transaction
from thidua.errors import InvalidInputError
from thidua.links import settings_serializer
from thidua.models.outbox import MailOptOut
from thidua.models.tables import Assignment, Campaign, ObligationDef, Unit
from thidua.settings import Settings

# Mail kinds a recipient may stop; everything else (sign-in links, nomination steps) is mandatory.
NON_MANDATORY_KINDS = frozenset({"reminder", "escalation", "office_digest", "failure_report"})
UNSUBSCRIBE_PATH = "/huy-nhan-thu"
T = MailOptOut.__table__  # type: ignore[attr-defined]


class BadUnsubscribeLink(InvalidInputError):
    """The token was altered or signed with another key."""


@dataclass(frozen=True)
class OptOutClaims:
    recipient: str
    campaign_id: int
    assignment_id: int | None  # None: every non-mandatory mail of the campaign


def _serializer(settings: Settings) -> URLSafeSerializer:
    return settings_serializer(settings, "huy-nhan-thu")  # one per key: a token per mail


# Tokens remembered per serializer (so per key) before it starts again: every rung of a ladder asks again.
_REMEMBER = 65536


def unsubscribe_token(settings: Settings, recipient: str, campaign_id: int, assignment_id: int | None) -> str:
    serializer = _serializer(settings)
    payload = [recipient.strip().lower(), campaign_id, assignment_id or 0]
    if type(campaign_id) is not int or type(payload[2]) is not int:  # 1, 1.0 and True are one dict key
        return str(serializer.dumps(payload))
    remembered: dict[Any, str] | None = getattr(serializer, "remembered", None)
    if remembered is None:
        return str(serializer.dumps(payload))
    key = tuple(payload)
    token = remembered.get(key)
    if token is None:
        if len(remembered) >= _REMEMBER:
            remembered.clear()
        token = remembered[key] = str(serializer.dumps(payload))
    return token


def unsubscribe_url(settings: Settings, recipient: str, campaign_id: int, assignment_id: int | None) -> str:
    token = unsubscribe_token(settings, recipient, campaign_id, assignment_id)
    return f"{settings.base_url.rstrip('/')}{UNSUBSCRIBE_PATH}/{token}"


def read_token(settings: Settings, token: str) -> OptOutClaims:
    try:
        recipient, campaign_id, assignment_id = _serializer(settings).loads(token)
    except (BadSignature, ValueError, TypeError) as exc:
        raise BadUnsubscribeLink("Liên kết ngừng nhận thư không hợp lệ (có thể đã bị cắt hoặc sửa).") from exc
    return OptOutClaims(str(recipient), int(campaign_id), int(assignment_id) or None)


def describe(session: Session, claims: OptOutClaims) -> tuple[str, str]:
    """(campaign title, what stops) for the confirmation page."""
    title = session.execute(select(Campaign.title).where(Campaign.id == claims.campaign_id)).scalar_one_or_none()
    if claims.assignment_id is None:
        return title or "", "mọi thư nhắc việc và thư tổng hợp (không bắt buộc) của phong trào này"
    row = session.execute(
        select(ObligationDef.title, Unit.name)
        .select_from(Assignment)
        .join(ObligationDef, ObligationDef.id == Assignment.obligation_id)
        .join(Unit, Unit.id == Assignment.unit_id)
        .where(Assignment.id == claims.assignment_id)
    ).first()
    what = f"thư nhắc hạn nộp “{row[0]}” của {row[1]}" if row else "thư nhắc hạn nộp của nghĩa vụ này"
    return title or "", what


@owns_transaction
def opt_out(session: Session, claims: OptOutClaims, *, source: str, now: datetime) -> bool:
    """Record the request once (in the caller's transaction) and audit it. False if it was already recorded."""
    same = and_(
        T.c.recipient == claims.recipient,
        T.c.campaign_id == claims.campaign_id,
        T.c.assignment_id.is_(None) if claims.assignment_id is None else T.c.assignment_id == claims.assignment_id,
    )
    if session.execute(select(T.c.id).where(same)).first() is not None:
        return False
    new_id = session.execute(
        T.insert()
        .values(
            recipient=claims.recipient,
            campaign_id=claims.campaign_id,
            assignment_id=claims.assignment_id,
            source=source,
            created_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    audit(
        session,
        actor=f"email:{claims.recipient}",
        action="mail.opted_out",
        entity="mail_optout",
        entity_id=new_id,
        after={"recipient": claims.recipient, "assignment_id": claims.assignment_id, "source": source},
        campaign_id=claims.campaign_id,
        at=now,
    )
    return True


def opted_out(
    session: Session, mails: Iterable[tuple[str, int | None, int | None, str]]
) -> set[tuple[str, int, int | None]]:
    """Of (recipient, campaign_id, assignment_id, kind) of mail about to be sent, the ones whose recipient stopped
    them, as (recipient lower case, campaign_id, assignment_id). One query for the batch."""
    wanted = [(r.strip().lower(), c, a, k) for r, c, a, k in mails if c is not None and k in NON_MANDATORY_KINDS]
    if not wanted:
        return set()
    recipients = sorted({r for r, *_ in wanted})
    campaigns = sorted({c for _, c, _, _ in wanted})
    rows = session.execute(
        select(T.c.recipient, T.c.campaign_id, T.c.assignment_id).where(
            T.c.recipient.in_(recipients), T.c.campaign_id.in_(campaigns)
        )
    ).all()
    whole = {(r, c) for r, c, a in rows if a is None}
    single = {(r, c, a) for r, c, a in rows if a is not None}
    return {
        (r, c, a)
        for r, c, a, k in wanted
        if (r, c) in whole or (k == "reminder" and a is not None and (r, c, a) in single)
    }
