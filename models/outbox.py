"""The outbox/ledger: one row per e-mail the engine means to send, unique by its key.

Reminders are claimed into it set-based at dispatch time (key per assignment, rung and recipient);
other mail (nomination steps, sign-in links, digests) is enqueued explicitly. The unique key is what makes
"never the same reminder twice" hold across restarts, moved deadlines and concurrent dispatchers.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Optional

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from thidua.models.clock import utcnow


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its send time or a retry
    CLAIMED = "claimed"  # leased by a dispatcher; lease_until says until when
    SENT = "sent"
    PARTIAL = "partial"  # accepted for some recipients, refused for others (see last_error)
    FAILED = "failed"  # permanent refusal (5xx) or no valid address
    UNKNOWN = "unknown"  # connection lost after DATA: the server may have it; never resent silently
    SKIPPED = "skipped"  # no longer needed at send time (submitted, unit inactive, deadline moved)


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_key"),
        Index("ix_outbox_status_scheduled", "status", "scheduled_at"),
        Index("ix_outbox_assignment", "assignment_id"),
        # (campaign, kind) lookups; "the latest office digest before now" as one seek (with (campaign_id, kind)
        # alone SQLite's statistics, nearly every row a reminder, made it walk the status index over the year;
        # with status before scheduled_at it chose a skip-scan that walks too); status last so that
        # `reminders status` counts by kind and status from the index alone.
        Index("ix_outbox_campaign_kind_scheduled", "campaign_id", "kind", "scheduled_at", "status"),
        # The office digest and failure queries read one campaign's rows by status and by time window:
        # without it they scan every row the campaign ever queued.
        Index("ix_outbox_campaign_status_scheduled", "campaign_id", "status", "scheduled_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    kind: str = Field(max_length=32)  # reminder | escalation | office_digest | nomination | login_link | ...
    campaign_id: Optional[int] = Field(default=None, foreign_key="campaign.id")
    assignment_id: Optional[int] = Field(default=None, foreign_key="assignment.id")
    unit_id: Optional[int] = Field(default=None, foreign_key="unit.id")  # the unit the mail is addressed to
    rung: Optional[str] = Field(default=None, max_length=80)
    recipient: str = Field(max_length=254)
    template: str = Field(max_length=80)
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    scheduled_at: datetime
    status: str = Field(default=OutboxStatus.PENDING.value, max_length=16)
    lease_owner: Optional[str] = Field(default=None, max_length=128)
    lease_until: Optional[datetime] = None
    attempts: int = 0
    last_error: Optional[str] = None
    message_id: Optional[str] = Field(default=None, max_length=200)
    sent_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)


class MailOptOut(SQLModel, table=True):
    """A recipient who asked (one click in the mail, or the page behind it) to stop non-mandatory mail of a
    campaign: the reminders of one obligation (assignment_id set) or every reminder and digest (None)."""

    __tablename__ = "mail_optout"
    __table_args__ = (Index("ix_mail_optout_recipient", "recipient", "campaign_id"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    recipient: str = Field(max_length=254)  # lower case
    campaign_id: int = Field(foreign_key="campaign.id")
    assignment_id: Optional[int] = Field(default=None, foreign_key="assignment.id")
    source: str = Field(max_length=16)  # one-click (RFC 8058 POST by the mail provider) | page
    created_at: datetime = Field(default_factory=utcnow)
