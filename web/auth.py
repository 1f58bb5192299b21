"""Sign-in by e-mail link and the session cookie.

The links themselves (signing, reading, single use) are thidua.links, shared with the reminder service; their
names are re-exported here for the web routes.

The session cookie is signed too and holds a random session id (the CSRF secret is derived from it), the
signed-in user's id and e-mail, and when it was issued.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from thidua.audit import audit
from thidua.db import owns_transaction
from thidua.links import (  # noqa: F401  (re-exported for the web routes and tests)
    LINK_SALT,
    LOGIN_LINK_TTL,
    OBLIGATION_LINK_TTL,
    PURPOSE_LOGIN,
    PURPOSE_OBLIGATION,
    LinkClaims,
    consume_link,
    link_url,
    make_obligation_link,
    read_link,
    safe_next_path,
    sign_claims,
)
from thidua.models.accounts import LoginToken
from thidua.models.clock import fmt_datetime
from thidua.models.emails import normalise_email
from thidua.models.tables import Unit, User
from thidua.notifications.outbox import enqueue
from thidua.settings import Settings

SESSION_SALT = "thidua.session.v1"
SESSION_COOKIE = "thidua_phien"
SESSION_TTL = timedelta(hours=12)


@owns_transaction
def record_sign_in(session: Session, claims: LinkClaims, user: User, *, now: datetime) -> None:
    """Use the link (LinkReused when it was used before) and log the sign-in, as one transaction."""
    consume_link(session, claims, now=now)
    audit(
        session,
        actor=user.email,
        action="auth.signed_in",
        entity="user",
        entity_id=user.id,
        unit_id=user.unit_id,
        after={"link": claims.purpose},
        at=now,
    )


def users_for_email(session: Session, email: str, unit_id: int | None = None) -> list[User]:
    """Active accounts of an e-mail (one per unit), optionally only the one for a unit."""
    query = (
        select(User)
        .join(Unit, Unit.id == User.unit_id)
        .where(func.lower(User.email) == normalise_email(email), User.active.is_(True), Unit.active.is_(True))
        .order_by(Unit.path)
    )
    if unit_id is not None:
        query = query.where(User.unit_id == unit_id)
    return list(session.execute(query).scalars())


@owns_transaction
def issue_login_link(
    session: Session, settings: Settings, email: str, *, now: datetime, next_path: str = "/"
) -> tuple[LinkClaims, str] | None:
    """Record and queue a sign-in link for an e-mail with an account; None (nothing queued) otherwise.

    The caller shows the same answer either way, so the page does not reveal who has an account."""
    email = normalise_email(email)
    users = users_for_email(session, email)
    if not users:
        return None
    claims = LinkClaims(
        jti=secrets.token_urlsafe(16),
        purpose=PURPOSE_LOGIN,
        email=email,
        expires_at=now + LOGIN_LINK_TTL,
        unit_id=users[0].unit_id if len(users) == 1 else None,
        next_path=safe_next_path(next_path),
    )
    session.add(
        LoginToken(
            jti=claims.jti,
            purpose=claims.purpose,
            email=email,
            unit_id=claims.unit_id,
            issued_at=now,
            expires_at=claims.expires_at,
        )
    )
    url = link_url(settings, "/dang-nhap/lien-ket", sign_claims(settings, claims))
    unit_names = [
        name
        for name in session.execute(
            select(Unit.name).where(Unit.id.in_([u.unit_id for u in users])).order_by(Unit.path)
        ).scalars()
    ]
    enqueue(
        session,
        key=f"login:{claims.jti}",
        kind="login_link",
        recipient=email,
        template="login_link",
        context={
            "link": url,
            "email": email,
            "units": unit_names,
            "full_name": users[0].full_name,
            "expires_at": fmt_datetime(claims.expires_at, settings.timezone),
            "minutes": int(LOGIN_LINK_TTL.total_seconds() // 60),
        },
        scheduled_at=now,
        unit_id=users[0].unit_id,
    )
    return claims, url


# ---------------------------------------------------------------------------------------------------
# Session cookie
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebSession:
    sid: str
    issued_at: datetime
    user_id: int | None = None
    email: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None


def new_session(now: datetime, user: User | None = None) -> WebSession:
    """A fresh session id (also on sign-in, so that an id known before sign-in is worthless after)."""
    return WebSession(
        sid=secrets.token_urlsafe(18),
        issued_at=now,
        user_id=user.id if user else None,
        email=normalise_email(user.email) if user else None,
    )


def _session_serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.signing_key(), salt=SESSION_SALT)


def encode_session(settings: Settings, data: WebSession) -> str:
    payload: dict[str, Any] = {"s": data.sid, "t": int(data.issued_at.timestamp())}
    if data.user_id is not None:
        payload["u"] = data.user_id
        payload["e"] = data.email
    return _session_serializer(settings).dumps(payload)


def decode_session(settings: Settings, raw: str | None, *, now: datetime) -> WebSession | None:
    """The session in a cookie, or None when absent, forged or expired."""
    if not raw:
        return None
    try:
        payload = _session_serializer(settings).loads(raw)
        data = WebSession(
            sid=str(payload["s"]),
            issued_at=datetime.fromtimestamp(int(payload["t"]), timezone.utc),
            user_id=payload.get("u"),
            email=payload.get("e"),
        )
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    if data.signed_in and not (isinstance(data.user_id, int) and 0 < data.user_id < 2**63):
        return None  # no account can have that id
    if data.signed_in and not (data.issued_at <= now < data.issued_at + SESSION_TTL):
        return None
    return data
