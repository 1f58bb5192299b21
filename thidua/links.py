"""Sign-in links: signed, self-describing, single-use. Used by the web (sign-in page) and by the reminder
service (the link printed in each reminder e-mail), so it lives below both.

A link carries a signed claim (id, e-mail, optional unit and obligation, expiry). The signature stops tampering;
the expiry is checked against the caller's clock; the `login_token` table makes every link single-use. Links for
reminder e-mails are made without a database (`make_obligation_link`), so the renderer can print thousands cheaply.
"""

from __future__ import annotations

import hmac
import json
import secrets
import zlib
from binascii import b2a_base64
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from itsdangerous.signer import HMACAlgorithm
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from thidua.errors import InvalidInputError
from thidua.models.accounts import LoginToken
from thidua.models.clock import fmt_datetime, utcnow
from thidua.models.emails import normalise_email
from thidua.models.tables import User
from thidua.settings import Settings

LINK_SALT = "thidua.link.v1"
LOGIN_LINK_TTL = timedelta(minutes=30)
# A reminder e-mail stays useful through the whole ladder (last reminder 31 days after the deadline).
OBLIGATION_LINK_TTL = timedelta(days=45)

PURPOSE_LOGIN = "login"
PURPOSE_OBLIGATION = "obligation"


class BadLink(InvalidInputError):
    """A sign-in link that cannot be honoured; the page offers a new one."""

    status = 400
    title = "Liên kết không dùng được"


class LinkTampered(BadLink):
    pass


class LinkExpired(BadLink):
    status = 410


class LinkReused(BadLink):
    status = 410


def safe_next_path(path: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path


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


class _Sha1Hmac(HMACAlgorithm):
    """itsdangerous's default HMAC-SHA1 through `hmac.digest` (the C one-shot): the same signatures."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


class _ReusedSigner(Signer):
    """A Signer that derives its signing key once (itsdangerous derives it again for every signature)."""

    _derived: bytes | None = None

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is not None:
            return super().derive_key(secret_key)
        if self._derived is None:
            self._derived = super().derive_key()
        return self._derived


# itsdangerous's compact JSON (`_CompactJSON.dumps`), as one encoder built once (json.dumps builds one per call).
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(data: bytes) -> bytes:
    """itsdangerous's `base64_encode`: URL-safe base64 without padding."""
    return b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=")


# A payload of at most this many bytes (every reminder's link and unsubscribe token) is signed uncompressed. zlib
# would save ~7 bytes of a ~150-character token, but each of its calls releases the interpreter lock: a dispatch
# thread signing links gives the lock to the event loop and waits to get it back, twice per link (measured at
# 130,000 reminders: 44 µs of client CPU per reminder, 9 % of the pass's throughput). itsdangerous reads both forms.
SHORT_PAYLOAD = 200


class _ReusedSerializer(URLSafeSerializer):
    """URLSafeSerializer that keeps its signer (itsdangerous builds one per `dumps`).

    `dumps` writes the token itself, as itsdangerous's layers would (compact JSON, zlib when that is shorter by
    two bytes or more, URL-safe base64, "." and the HMAC-SHA1 of the signer's derived key, URL-safe base64), except
    that a payload of at most SHORT_PAYLOAD bytes is never compressed: a dispatch pass signs one or two tokens per
    mail. itsdangerous verifies every token it writes; `loads` is itsdangerous's own. A serializer built with other
    signer settings than `reused_serializer`'s, or a `salt` argument, goes through itsdangerous."""

    default_signer = _ReusedSigner
    _own_signer: Signer | None = None
    # tokens of deterministic payloads (no nonce): unsubscribe links, asked for again by every rung of a ladder
    remembered: dict[Any, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remembered = {}
        signer = self.make_signer()
        self._fast_key: bytes | None = (
            signer.derive_key()
            if isinstance(signer.algorithm, _Sha1Hmac)
            and signer.sep == b"."
            and self.serializer is URLSafeSerializer.default_serializer
            and not self.serializer_kwargs
            else None
        )

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is not None:
            return super().make_signer(salt)
        if self._own_signer is None:
            self._own_signer = super().make_signer()
        return self._own_signer

    def dumps(self, obj: Any, salt: str | bytes | None = None) -> str:
        key = self._fast_key
        if key is None or salt is not None:
            return super().dumps(obj, salt)
        payload = _COMPACT_JSON.encode(obj).encode("utf-8")
        compressed = zlib.compress(payload) if len(payload) > SHORT_PAYLOAD else payload
        if len(compressed) < len(payload) - 1:
            payload = b"." + _b64url(compressed)
        else:
            payload = _b64url(payload)
        return (payload + b"." + _b64url(hmac.digest(key, payload, "sha1"))).decode("ascii")


@lru_cache(maxsize=16)
def reused_serializer(key: str, salt: str) -> URLSafeSerializer:
    """One serializer per (key, salt) for the process: a dispatch pass signs one or two tokens per mail."""
    return _ReusedSerializer(key, salt=salt, signer_kwargs={"algorithm": _Sha1Hmac()})


# salt -> (the Settings last asked for, its serializer): `Settings.signing_key` costs microseconds per call (pydantic
# private attribute), and resolves the key once per Settings object, so the same object means the same key.
_last_bound: dict[str, tuple[Settings, URLSafeSerializer]] = {}


def settings_serializer(settings: Settings, salt: str) -> URLSafeSerializer:
    """`reused_serializer(settings.signing_key(), salt)`, without asking the settings again for the same object."""
    last = _last_bound.get(salt)
    if last is not None and last[0] is settings:
        return last[1]
    serializer = reused_serializer(settings.signing_key(), salt)
    _last_bound[salt] = (settings, serializer)
    return serializer


def _link_serializer(settings: Settings) -> URLSafeSerializer:
    """One signer per key, reused: a reminder pass signs one link per mail (its key derivation is not free)."""
    return settings_serializer(settings, LINK_SALT)


def sign_claims(settings: Settings, claims: LinkClaims) -> str:
    payload: dict[str, Any] = {
        "j": claims.jti,
        "p": claims.purpose,
        "e": claims.email,
        "x": int(claims.expires_at.timestamp()),
    }
    if claims.unit_id is not None:
        payload["u"] = claims.unit_id
    if claims.assignment_id is not None:
        payload["a"] = claims.assignment_id
    if claims.next_path != "/":
        payload["n"] = claims.next_path
    return _link_serializer(settings).dumps(payload)


def _obligation_payload(jti: str, email: str, expires_at: datetime, unit_id: int, assignment_id: int) -> dict[str, Any]:
    """`sign_claims`'s payload of an obligation link's claims (no next path), built without the claims object."""
    payload: dict[str, Any] = {"j": jti, "p": PURPOSE_OBLIGATION, "e": email, "x": int(expires_at.timestamp())}
    if unit_id is not None:
        payload["u"] = unit_id
    if assignment_id is not None:
        payload["a"] = assignment_id
    return payload


def read_link(settings: Settings, token: str, *, now: datetime) -> LinkClaims:
    """The claims of a link, or LinkTampered / LinkExpired. Does not consume it."""
    try:
        payload = _link_serializer(settings).loads(token)
        claims = LinkClaims(
            jti=str(payload["j"]),
            purpose=str(payload["p"]),
            email=str(payload["e"]),
            expires_at=datetime.fromtimestamp(int(payload["x"]), timezone.utc),
            unit_id=payload.get("u"),
            assignment_id=payload.get("a"),
            next_path=safe_next_path(payload.get("n")),
        )
    except (BadSignature, KeyError, TypeError, ValueError, OverflowError, OSError):  # absurd expiry
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
    # The claims `LinkClaims(jti, PURPOSE_OBLIGATION, email, expiry, unit_id, assignment_id)` signed as
    # `sign_claims` signs them; the token is URL-safe (A-Z a-z 0-9 - _ .), which `quote` in `link_url` keeps as is.
    payload = _obligation_payload(
        secrets.token_urlsafe(16),
        normalise_email(email),
        (now or utcnow()) + OBLIGATION_LINK_TTL,
        unit_id,
        assignment_id,
    )
    token = _link_serializer(settings).dumps(payload)
    return f"{settings.base_url.rstrip('/')}/don-vi/nghia-vu/{assignment_id}?t={token}"


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
                session.execute(
                    insert(table).values(
                        jti=claims.jti,
                        purpose=claims.purpose,
                        email=claims.email,
                        unit_id=claims.unit_id,
                        issued_at=now,
                        expires_at=claims.expires_at,
                        used_at=now,
                    )
                )
            return
        except IntegrityError:  # the same link followed twice at the same moment
            pass
    raise LinkReused("Liên kết này đã được dùng. Mỗi liên kết chỉ đăng nhập được một lần.")


@dataclass(frozen=True)
class LinkSigner:
    """The link functions bound to one process's settings (secret key, base URL), built once by bootstrap()."""

    settings: Settings

    def sign(self, claims: LinkClaims) -> str:
        return sign_claims(self.settings, claims)

    def read(self, token: str, *, now: datetime) -> LinkClaims:
        return read_link(self.settings, token, now=now)

    def obligation_link(
        self, email: User | str, unit_id: int, assignment_id: int, *, now: datetime | None = None
    ) -> str:
        return make_obligation_link(self.settings, email, unit_id, assignment_id, now=now)
