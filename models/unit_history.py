"""Tables of the unit tree's history: past versions of units and the reorganisation log.

The `unit` table stays the current tree (every existing query keeps working); `unit.valid_from` says since
when its row holds (None: since always). Each reorganisation closes the row it changes into a
`unit_version` [valid_from, valid_to) before changing it, so "the tree as of D" is the current rows valid on
D plus the closed versions covering D (thidua.services.unit_history.units_as_of).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, String
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow


class UnitVersion(SQLModel, table=True):
    """A closed version of a unit: how it stood from valid_from (None: always) until the day before valid_to."""

    __tablename__ = "unit_version"
    __table_args__ = (
        Index("ix_unit_version_unit", "unit_id", "valid_to"),
        Index("ix_unit_version_path", "path"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id")
    code: str = Field(max_length=64)
    name: str
    level_code: str = Field(max_length=40)
    parent_id: Optional[int] = None
    path: str = Field(
        default="",
        sa_column=Column(
            String(400).with_variant(postgresql.VARCHAR(400, collation="C"), "postgresql"), nullable=False
        ),
    )
    depth: int = 0
    active: bool = True
    sector: Optional[str] = Field(default=None, max_length=10)
    valid_from: Optional[date] = None
    valid_to: date
    reorganisation_id: Optional[int] = Field(default=None, foreign_key="reorganisation.id")


class Reorganisation(SQLModel, table=True):
    """One applied change file (its rows are reorganisation_step)."""

    id: Optional[int] = Field(default=None, primary_key=True)
    effective_on: date  # the latest effective date of its rows
    file: str = ""
    actor: str = Field(max_length=254)
    applied_at: datetime = Field(default_factory=utcnow)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ReorganisationStep(SQLModel, table=True):
    """One unit affected by one row: a creation, rename, change of parent, or an end with its successor.

    The before/after mapping of reports and the carrying of in-flight work read these rows."""

    __tablename__ = "reorganisation_step"
    __table_args__ = (
        Index(
            "ix_reorg_step_reorg", "reorganisation_id", "kind", "unit_id"
        ),  # carried work: per unit of a reorganisation
        Index("ix_reorg_step_unit", "unit_id"),
        Index("ix_reorg_step_successor", "successor_unit_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    reorganisation_id: int = Field(foreign_key="reorganisation.id")
    line: Optional[int] = None  # row of the change file
    operation: str = Field(max_length=16)  # create | rename | move | merge | split | dissolve
    kind: str = Field(max_length=16)  # created | renamed | moved | ended
    effective_on: date
    unit_id: int = Field(foreign_key="unit.id")
    old_parent_id: Optional[int] = None
    new_parent_id: Optional[int] = None
    successor_unit_id: Optional[int] = Field(default=None, foreign_key="unit.id")  # kind 'ended'
    is_primary: bool = True  # the successor that takes the ended unit's work (split: the first named)
    old_name: str = ""
    new_name: str = ""
