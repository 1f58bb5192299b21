"""Sign-in by e-mail link and the session cookie.

A link carries a signed, self-describing claim (id, e-mail, optional unit and obligation, expiry). The
signature stops tampering; the expiry is checked against the application's clock; the `login_token` table
makes every link single-use. Links for reminder e-mails are made without a database
(`make_obligation_link`), so the reminder renderer can print thousands of them cheaply.

The session cookie is signed too and holds a random session id (the CSRF secret is derived from it), the
signed-in user's id and e-mail, and when it was issued.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from thidua.models.clock import fmt_datetime, utcnow
from thidua.models.tables import Unit, User
from thidua.notifications.outbox import enqueue
from thidua.settings import Settings
from thidua.web.errors import LinkExpired, LinkReused, LinkTampered
from thidua.web.models import LoginToken

LINK_SALT = "thidua.link.v1"
SESSION_SALT = "thidua.session.v1"
SESSION_COOKIE = "thidua_phien"
LOGIN_LINK_TTL = timedelta(minutes=30)
# A reminder e-mail stays useful through the whole ladder (last reminder 31 days after the deadline).
OBLIGATION_LINK_TTL = timedelta(days=45)
SESSION_TTL = timedelta(hours=12)

PURPOSE_LOGIN = "login"
PURPOSE_OBLIGATION = "obligation"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def safe_next_path(path: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


# ---------------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkClaims:
    jti: str
    purpose: str
    email: str
    expires_at: datetime
    unit_id: int | None = None
    assignment_id: int | None = None
    next_path: str = "/"

    @property
    def target_path(self) -> str:
        if self.assignment_id is not None:
            return f"/don-vi/nghia-vu/{self.assignment_id}"
        return safe_next_path(self.next_path)


def _link_serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.signing_key(), salt=LINK_SALT)


def sign_claims(settings: Settings, claims: LinkClaims) -> str:
    payload: dict[str, Any] = {
        "j": claims.jti, "p": claims.purpose, "e": claims.email, "x": int(claims.expires_at.timestamp()),
    }
    if claims.unit_id is not None:
        payload["u"] = claims.unit_id
    if claims.assignment_id is not None:
        payload["a"] = claims.assignment_id
    if claims.next_path != "/":
        payload["n"] = claims.next_path
    return _link_serializer(settings).dumps(payload)


def read_link(settings: Settings, token: str, *, now: datetime) -> LinkClaims:
    """The claims of a link, or LinkTampered / LinkExpired. Does not consume it."""
    try:
        payload = _link_serializer(settings).loads(token)
        claims = LinkClaims(
            jti=str(payload["j"]), purpose=str(payload["p"]), email=str(payload["e"]),
            expires_at=datetime.fromtimestamp(int(payload["x"]), timezone.utc),
            unit_id=payload.get("u"), assignment_id=payload.get("a"),
            next_path=safe_next_path(payload.get("n")),
        )
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):  # OverflowError: absurd expiry
        raise LinkTampered("Liên kết đăng nhập không hợp lệ (có thể đã bị sửa hoặc chép thiếu).") from None
    if claims.expires_at <= now:
        raise LinkExpired(f"Liên kết đăng nhập đã hết hạn lúc {fmt_datetime(claims.expires_at)}.")
    return claims


def link_url(settings: Settings, path: str, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}{path}?t={quote(token)}"


def make_obligation_link(
    settings: Settings, user_or_email: User | str, unit_id: int, assignment_id: int, *, now: datetime | None = None
) -> str:
    """The link printed in a reminder e-mail: opens the obligation and signs the recipient in for that unit.
    Needs no database; the link becomes used when first followed."""
    email = user_or_email.email if isinstance(user_or_email, User) else user_or_email
    claims = LinkClaims(
        jti=secrets.token_urlsafe(16), purpose=PURPOSE_OBLIGATION, email=normalise_email(email),
        expires_at=(now or utcnow()) + OBLIGATION_LINK_TTL, unit_id=unit_id, assignment_id=assignment_id,
    )
    return link_url(settings, f"/don-vi/nghia-vu/{assignment_id}", sign_claims(settings, claims))


def consume_link(session: Session, claims: LinkClaims, *, now: datetime) -> None:
    """Mark the link used, atomically; LinkReused when it was used before."""
    table = LoginToken.__table__  # type: ignore[attr-defined]
    marked = session.execute(
        update(table).where(table.c.jti == claims.jti, table.c.used_at.is_(None)).values(used_at=now)
    ).rowcount
    if marked:
        return
    exists = session.execute(select(table.c.jti).where(table.c.jti == claims.jti)).first()
    if exists is None and claims.purpose == PURPOSE_OBLIGATION:
        try:
            with session.begin_nested():
                session.execute(insert(table).values(
                    jti=claims.jti, purpose=claims.purpose, email=claims.email, unit_id=claims.unit_id,
                    issued_at=now, expires_at=claims.expires_at, used_at=now,
                ))
            return
        except IntegrityError:  # the same link followed twice at the same moment
            pass
    raise LinkReused("Liên kết này đã được dùng. Mỗi liên kết chỉ đăng nhập được một lần.")


def users_for_email(session: Session, email: str, unit_id: int | None = None) -> list[User]:
    """Active accounts of an e-mail (one per unit), optionally only the one for a unit."""
    query = (
        select(User).join(Unit, Unit.id == User.unit_id)
        .where(func.lower(User.email) == normalise_email(email), User.active.is_(True), Unit.active.is_(True))
        .order_by(Unit.path)
    )
    if unit_id is not None:
        query = query.where(User.unit_id == unit_id)
    return list(session.execute(query).scalars())


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
        jti=secrets.token_urlsafe(16), purpose=PURPOSE_LOGIN, email=email, expires_at=now + LOGIN_LINK_TTL,
        unit_id=users[0].unit_id if len(users) == 1 else None, next_path=safe_next_path(next_path),
    )
    session.add(LoginToken(jti=claims.jti, purpose=claims.purpose, email=email, unit_id=claims.unit_id,
                           issued_at=now, expires_at=claims.expires_at))
    url = link_url(settings, "/dang-nhap/lien-ket", sign_claims(settings, claims))
    unit_names = [name for name in session.execute(
        select(Unit.name).where(Unit.id.in_([u.unit_id for u in users])).order_by(Unit.path)
    ).scalars()]
    enqueue(
        session, key=f"login:{claims.jti}", kind="login_link", recipient=email, template="login_link",
        context={
            "link": url, "email": email, "units": unit_names, "full_name": users[0].full_name,
            "expires_at": fmt_datetime(claims.expires_at, settings.timezone),
            "minutes": int(LOGIN_LINK_TTL.total_seconds() // 60),
        },
        scheduled_at=now, unit_id=users[0].unit_id,
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
        sid=secrets.token_urlsafe(18), issued_at=now,
        user_id=user.id if user else None, email=normalise_email(user.email) if user else None,
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
            sid=str(payload["s"]), issued_at=datetime.fromtimestamp(int(payload["t"]), timezone.utc),
            user_id=payload.get("u"), email=payload.get("e"),
        )
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):
        return None
    if data.signed_in and not (isinstance(data.user_id, int) and 0 < data.user_id < 2**63):
        return None  # no account can have that id
    if data.signed_in and not (data.issued_at <= now < data.issued_at + SESSION_TTL):
        return None
    return data
