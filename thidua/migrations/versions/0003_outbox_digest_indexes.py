"""outbox indexes for the office digest and failure queries

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 08:00:00
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_campaign_status_scheduled', 'outbox', ['campaign_id', 'status', 'scheduled_at'])
    op.create_index('ix_outbox_campaign_scheduled', 'outbox', ['campaign_id', 'scheduled_at', 'status'])


def downgrade() -> None:
    op.drop_index('ix_outbox_campaign_scheduled', table_name='outbox')
    op.drop_index('ix_outbox_campaign_status_scheduled', table_name='outbox')
