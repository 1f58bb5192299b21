"""SQLModel tables of the core: levels, units, campaigns, rounds, obligations, assignments, targets, users,
audit log and leases. Other families live beside this file (submissions, reminders, nominations) and are
imported at the bottom so that `import thidua.models.tables` registers every table.

Conventions: datetimes are aware UTC (SQLModel stores them as UTC); calendar dates (due_on, rounds) are local dates of the
campaign's time zone. Families follow Base / Create / Public / table where an API exposes them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, String, UniqueConstraint
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow


# ---------------------------------------------------------------------------------------------------
# Unit hierarchy
# ---------------------------------------------------------------------------------------------------
class Level(SQLModel, table=True):
    """One tier of the union hierarchy; rank 0 is the top. Configurable (config/levels.yaml)."""

    code: str = Field(primary_key=True, max_length=40)
    name: str
    short_name: str = ""
    rank: int = Field(index=True)
    valid_from: Optional[date] = None  # the level exists from this date (None: always)
    valid_to: Optional[date] = None  # and until the day before this one (None: no end)


class UnitBase(SQLModel):
    code: str = Field(max_length=64)
    name: str
    level_code: str = Field(foreign_key="level.code", max_length=40)
    sector: Optional[str] = Field(default=None, max_length=10)  # sxkd | hcsn
    emails: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    cluster: Optional[str] = Field(default=None, max_length=120)  # cụm/khối thi đua
    # Typed facts declared in config/unit_attributes.yaml (ownership, eligibility flags, tags…), selectable by campaigns.
    attributes: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class Unit(UnitBase, table=True):
    """A union unit. `path` is a materialised path of fixed-width ids ('00000001.00000017.') so that a
    subtree is one indexed range scan and grouping by an ancestor is a prefix of the path."""

    __table_args__ = (
        UniqueConstraint("code", name="uq_unit_code"),
        Index("ix_unit_path", "path"),  # subtree = one range scan
        Index("ix_unit_parent", "parent_id"),
        Index("ix_unit_level", "level_code"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    parent_id: Optional[int] = Field(default=None, foreign_key="unit.id")
    # Byte-wise collation on PostgreSQL so that a subtree is the index range [path, path || '~').
    path: str = Field(
        default="",
        sa_column=Column(
            String(400).with_variant(postgresql.VARCHAR(400, collation="C"), "postgresql"), nullable=False
        ),
    )
    depth: int = 0
    valid_from: Optional[date] = None  # since when this row holds (reorganisations); None: always
    updated_at: datetime = Field(default_factory=utcnow)


class UnitPublic(UnitBase):
    id: int
    parent_id: Optional[int]
    depth: int


# ---------------------------------------------------------------------------------------------------
# Campaign plan
# ---------------------------------------------------------------------------------------------------
class Campaign(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("code", name="uq_campaign_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    code: str = Field(max_length=64)
    title: str
    theme: str = ""
    year: int
    timezone: str = "Asia/Ho_Chi_Minh"
    issuing_unit_id: int = Field(foreign_key="unit.id")
    root_unit_id: int = Field(foreign_key="unit.id")  # participating subtree
    owner_department: str = ""
    owner_email: str = ""
    starts_on: date
    ends_on: date
    status: str = "active"  # active | closed
    source_file: str = ""
    source_hash: str = ""
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Round(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "number", name="uq_round_number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    number: int
    name: str
    starts_on: date
    ends_on: date


class ObligationDef(SQLModel, table=True):
    """What units must submit (registration, round report, final report, nomination window, ...)."""

    __tablename__ = "obligation"
    __table_args__ = (UniqueConstraint("campaign_id", "code", name="uq_obligation_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    code: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    title: str
    round_number: Optional[int] = None
    opens_on: Optional[date] = None
    due_on: date
    levels: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sectors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reviewer: str = "parent"
    ladder: Optional[str] = None
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = True  # an obligation removed from the file is deactivated, never deleted
    # One row per period of a recurring obligation ('every: month'): code 'series@period_key'.
    series: Optional[str] = Field(default=None, max_length=64, index=True)
    period_key: Optional[str] = Field(default=None, max_length=16)
    period_starts: Optional[date] = None
    period_ends: Optional[date] = None


class Assignment(SQLModel, table=True):
    """One obligation owed by one unit. Status follows the submission lifecycle."""

    __table_args__ = (
        UniqueConstraint("obligation_id", "unit_id", name="uq_assignment"),
        Index("ix_assignment_status_due", "status", "due_at"),
        # Roll-ups start from a subtree of units and probe each unit's assignments; PostgreSQL answers them
        # from this index alone (the INCLUDE columns), which beats scanning a national campaign's rows.
        Index(
            "ix_assignment_unit_campaign",
            "unit_id",
            "campaign_id",
            postgresql_include=["status", "late", "due_at", "active"],
        ),
        Index("ix_assignment_campaign_status", "campaign_id", "status"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id")
    obligation_id: int = Field(foreign_key="obligation.id")
    unit_id: int = Field(foreign_key="unit.id")
    reviewer_unit_id: Optional[int] = Field(default=None, foreign_key="unit.id", index=True)
    due_on: date
    due_at: datetime  # end of due_on in the campaign's time zone, as UTC
    status: str = "chua_gui"  # see models.status.AssignmentStatus
    submitted_at: Optional[datetime] = None
    reviewed_at: Optional[datetime] = None
    late: bool = False
    current_version: int = 0
    active: bool = True
    version: int = 1  # optimistic concurrency
    updated_at: datetime = Field(default_factory=utcnow)


class Target(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "code", name="uq_target_code"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    code: str = Field(max_length=64)
    title: str
    rollup: str  # sum | average | share
    value: float
    unit_of_measure: str = ""
    deadline: date
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    quotas: Optional[dict[str, float]] = Field(default=None, sa_column=Column(JSON))  # unit code -> assigned value


# ---------------------------------------------------------------------------------------------------
# People, audit, leases
# ---------------------------------------------------------------------------------------------------
class UserBase(SQLModel):
    email: str = Field(max_length=254)
    full_name: str = ""
    unit_id: int = Field(foreign_key="unit.id")
    role: str = Field(default="unit_officer", max_length=32)  # unit_officer | reviewer | office
    active: bool = True


class User(UserBase, table=True):
    __tablename__ = "app_user"
    __table_args__ = (UniqueConstraint("email", "unit_id", name="uq_user_email_unit"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    """Append-only record of every state change."""

    __table_args__ = (
        Index("ix_audit_entity", "entity", "entity_id"),
        Index("ix_audit_unit_at", "unit_id", "at"),
        Index("ix_audit_at", "at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=254)  # user e-mail, unit code, or "system:<job>"
    action: str = Field(max_length=64)
    entity: str = Field(max_length=40)
    entity_id: Optional[str] = Field(default=None, max_length=64)
    campaign_id: Optional[int] = None
    unit_id: Optional[int] = None
    before: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    after: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    note: str = ""


class Lease(SQLModel, table=True):
    """A named lease: only its holder may act until it expires (e.g. the one dispatching scheduler)."""

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=128)
    expires_at: datetime


# Families defined beside this module register themselves on import.
from thidua.models import submissions as _submissions  # noqa: E402,F401
from thidua.models import reminders as _reminders  # noqa: E402,F401
from thidua.models import outbox as _outbox  # noqa: E402,F401
from thidua.models import nominations as _nominations  # noqa: E402,F401
from thidua.models import unit_history as _unit_history  # noqa: E402,F401
from thidua.models import accounts as _accounts  # noqa: E402,F401  (sign-in links, calendar feeds, API tokens)
from thidua.models import commendation as _commendation  # noqa: E402,F401
from thidua.models import evidence as _evidence  # noqa: E402,F401
from thidua.models import persons as _persons  # noqa: E402,F401
from thidua.models import publication as _publication  # noqa: E402,F401
from thidua.models import council as _council  # noqa: E402,F401
from thidua.models import clusters as _clusters  # noqa: E402,F401
