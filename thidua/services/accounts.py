"""Accounts: created by the office one by one, or from the e-mail addresses in the unit list; API tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlmodel import Session

from thidua.audit import audit, audit_many
from thidua.db import owns_transaction
from thidua.errors import InvalidFields
from thidua.models.accounts import ApiToken, CalendarFeed, Role
from thidua.models.emails import is_valid_email, normalise_email
from thidua.models.tables import Unit, User
from thidua.services.campaigns import subtree_range
from thidua.services.lookup import get_unit


@owns_transaction
def add_user(
    session: Session, *, email: str, unit_code: str, role: str, full_name: str = "", actor: str, now: datetime
) -> User:
    """One account for one unit. InvalidFields (naming the field) for a bad e-mail, role or unit code, or a
    duplicate; nothing is written then."""
    errors: dict[str, str] = {}
    email = normalise_email(email)
    if not is_valid_email(email):
        errors["email"] = f"địa chỉ e-mail '{email}' chưa đúng dạng"
    if role not in {r.value for r in Role}:
        errors["role"] = f"vai trò '{role}' không có; dùng một trong: {', '.join(r.value for r in Role)}"
    unit = session.execute(select(Unit).where(Unit.code == unit_code.strip())).scalars().first()
    if unit is None:
        errors["unit"] = f"không có đơn vị mã '{unit_code.strip()}'"
    elif not unit.active:
        errors["unit"] = f"đơn vị '{unit.code}' đã ngừng hoạt động"
    if unit is not None and not errors.get("email"):
        taken = session.execute(select(User.id).where(func.lower(User.email) == email, User.unit_id == unit.id)).first()
        if taken:
            errors["email"] = f"'{email}' đã có tài khoản ở đơn vị {unit.code}"
    if errors:
        raise InvalidFields("Chưa thêm được người dùng.", errors)
    assert unit is not None
    user = User(email=email, full_name=full_name.strip(), unit_id=unit.id, role=role, created_at=now)
    session.add(user)
    session.flush()
    audit(
        session,
        actor=actor,
        action="user.created",
        entity="user",
        entity_id=user.id,
        unit_id=unit.id,
        after={"email": email, "role": role, "unit": unit.code},
        at=now,
    )
    return user


@dataclass(frozen=True)
class ImportResult:
    created: int
    already: int
    units_without_email: int


@owns_transaction
def import_from_units(session: Session, *, actor: str, now: datetime, root_code: str | None = None) -> ImportResult:
    """An account for every e-mail address of every active unit (in a subtree, if given) that has none yet.
    Units with children review them (role reviewer); the others are unit officers. Set-based: one
    executemany for the accounts, one for their audit rows."""
    query = select(Unit.id, Unit.emails).where(Unit.active.is_(True))
    if root_code:
        low, high = subtree_range(get_unit(session, root_code).path)
        query = query.where(Unit.path >= low, Unit.path < high)
    units = session.execute(query).all()
    parents = set(
        session.execute(
            select(Unit.parent_id).where(Unit.parent_id.is_not(None), Unit.active.is_(True)).distinct()
        ).scalars()
    )
    existing = {(email.lower(), unit_id) for email, unit_id in session.execute(select(User.email, User.unit_id))}
    rows, seen, already, without = [], set(), 0, 0
    for unit_id, emails in units:
        valid = [normalise_email(e) for e in (emails or []) if is_valid_email(e)]
        if not valid:
            without += 1
        for email in valid:
            key = (email, unit_id)
            if key in existing:
                already += 1
            elif key not in seen:
                seen.add(key)
                role = Role.REVIEWER.value if unit_id in parents else Role.UNIT_OFFICER.value
                rows.append(
                    {
                        "email": email,
                        "full_name": "",
                        "unit_id": unit_id,
                        "role": role,
                        "active": True,
                        "created_at": now,
                    }
                )
    if rows:
        session.execute(insert(User), rows)
        audit_many(
            session,
            [
                {
                    "actor": actor,
                    "action": "user.imported",
                    "entity": "user",
                    "unit_id": r["unit_id"],
                    "after": {"email": r["email"], "role": r["role"]},
                    "at": now,
                }
                for r in rows
            ],
        )
    return ImportResult(created=len(rows), already=already, units_without_email=without)


@owns_transaction
def create_api_token(session: Session, user: User, *, label: str, actor: str, now: datetime) -> str:
    """A new bearer token for the API; returned once, stored only as its hash."""
    token = "tdk_" + secrets.token_urlsafe(32)
    session.add(
        ApiToken(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest(), label=label, created_at=now)
    )
    audit(
        session,
        actor=actor,
        action="api_token.created",
        entity="user",
        entity_id=user.id,
        unit_id=user.unit_id,
        after={"label": label},
        at=now,
    )
    return token


@owns_transaction
def renew_calendar_feed(session: Session, *, user_id: int, unit_id: int, actor: str, now: datetime) -> str:
    """A new secret calendar address for a user (the old one stops working); returns the token."""
    feed = session.get(CalendarFeed, user_id)
    token = secrets.token_urlsafe(24)
    if feed is None:
        session.add(CalendarFeed(user_id=user_id, token=token, created_at=now))
    else:
        feed.token, feed.created_at = token, now
    audit(
        session,
        actor=actor,
        action="calendar_feed.issued",
        entity="user",
        entity_id=user_id,
        unit_id=unit_id,
        note="thay địa chỉ cũ" if feed else "",
        at=now,
    )
    return token
