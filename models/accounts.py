"""Accounts beside the `app_user` table (models/tables.py User): used sign-in links, calendar feed secrets, API
tokens, and the roles a user may hold. Registered with the rest of the schema by one import at the end of
models/tables.py, so create_schema sees them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow


class Role(StrEnum):
    UNIT_OFFICER = "unit_officer"
    REVIEWER = "reviewer"
    OFFICE = "office"


class LoginToken(SQLModel, table=True):
    """A sign-in link by its id (jti). Links are signed and self-describing; this row is what makes them
    single-use: a link is honoured only while its row has no `used_at`.

    Links asked for on the sign-in page get their row when issued (the outbox key names it); links printed
    into reminder e-mails are made without a database and get their row when first used."""

    __tablename__ = "login_token"
    __table_args__ = (Index("ix_login_token_email", "email"),)

    jti: str = Field(primary_key=True, max_length=64)
    purpose: str = Field(max_length=16)  # login | obligation
    email: str = Field(max_length=254)
    unit_id: Optional[int] = Field(default=None, foreign_key="unit.id")
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: Optional[datetime] = None


class CalendarFeed(SQLModel, table=True):
    """The secret in a user's calendar subscription URL (.ics); replaced to revoke old subscriptions."""

    __tablename__ = "calendar_feed"
    __table_args__ = (UniqueConstraint("token", name="uq_calendar_feed_token"),)

    user_id: int = Field(primary_key=True, foreign_key="app_user.id")
    token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class ApiToken(SQLModel, table=True):
    """A bearer token for /api/v1. Only its SHA-256 is stored; the token is shown once when created."""

    __tablename__ = "api_token"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_token_hash"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_hash: str = Field(max_length=64)
    label: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: Optional[datetime] = None


class RevokedSession(SQLModel, table=True):
    """A signed session cookie that must no longer be honoured (signed out). The cookie itself stays valid
    by its signature until it expires, so the sign-out is recorded here; rows past `expires_at` are useless
    and are deleted at the next sign-out."""

    __tablename__ = "revoked_session"
    __table_args__ = (Index("ix_revoked_session_expires_at", "expires_at"),)

    sid: str = Field(primary_key=True, max_length=64)
    user_id: Optional[int] = Field(default=None)
    revoked_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
