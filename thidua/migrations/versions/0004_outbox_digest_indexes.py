"""outbox indexes for the office digest and failure queries

Revision ID: 0004
Revises: 0003_mail_optout
Create Date: 2026-12-04 08:00:00
"""
from alembic import op


revision = '0004'
down_revision = '0003_mail_optout'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_outbox_campaign_status_scheduled', 'outbox', ['campaign_id', 'status', 'scheduled_at'])
    op.create_index('ix_outbox_campaign_scheduled', 'outbox', ['campaign_id', 'scheduled_at', 'status'])


def downgrade() -> None:
    op.drop_index('ix_outbox_campaign_scheduled', table_name='outbox')
    op.drop_index('ix_outbox_campaign_status_scheduled', table_name='outbox')
