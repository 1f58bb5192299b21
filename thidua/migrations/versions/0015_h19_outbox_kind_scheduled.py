"""outbox index (campaign_id, kind, scheduled_at, status) in place of (campaign_id, kind): the office digest's
"latest digest before now" becomes one seek (with the old index SQLite walked the status index over the year once
the table's statistics said that nearly every row is a reminder), and `reminders status` counts by kind and status
from the index alone

Revision ID: 0015_h19_outbox_kind_scheduled
Revises: 0014_h17a_outbox_digest_indexes
Create Date: 2026-12-04 22:30:00
"""

from alembic import op


revision = "0015_h19_outbox_kind_scheduled"
down_revision = "0014_h17a_outbox_digest_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_campaign_kind_scheduled", "outbox", ["campaign_id", "kind", "scheduled_at", "status"])
    op.drop_index("ix_outbox_campaign_kind", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_campaign_kind", "outbox", ["campaign_id", "kind"])
    op.drop_index("ix_outbox_campaign_kind_scheduled", table_name="outbox")
