"""assignment index for roll-ups

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:28:28.746433
"""

from alembic import op


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_unit"))
        batch_op.create_index(
            "ix_assignment_unit_campaign",
            ["unit_id", "campaign_id"],
            unique=False,
            postgresql_include=["status", "late", "due_at", "active"],
        )


def downgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_unit_campaign", postgresql_include=["status", "late", "due_at", "active"])
        batch_op.create_index(batch_op.f("ix_assignment_unit"), ["unit_id"], unique=False)
