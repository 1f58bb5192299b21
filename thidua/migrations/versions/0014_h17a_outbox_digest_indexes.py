"""outbox index for the office digest and failure queries: (campaign_id, status, scheduled_at), covering the
digest's window counts, its pending count and the failure rows of a window

Revision ID: 0014_h17a_outbox_digest_indexes
Revises: 0013_h15_clusters
Create Date: 2026-12-04 08:00:00
"""

from alembic import op


revision = "0014_h17a_outbox_digest_indexes"
down_revision = "0013_h15_clusters"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_campaign_status_scheduled", "outbox", ["campaign_id", "status", "scheduled_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_campaign_status_scheduled", table_name="outbox")
