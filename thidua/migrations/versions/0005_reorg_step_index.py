"""reorganisation_step index ends with unit_id (carried work looks a unit's move up per assignment)

Revision ID: 0005_reorg_step_index
Revises: 0004_unit_history
Create Date: 2026-12-04 08:56:00
"""

from alembic import op


revision = "0005_reorg_step_index"
down_revision = "0004_unit_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reorganisation_step", schema=None) as batch_op:
        batch_op.drop_index("ix_reorg_step_reorg")
        batch_op.create_index("ix_reorg_step_reorg", ["reorganisation_id", "kind", "unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reorganisation_step", schema=None) as batch_op:
        batch_op.drop_index("ix_reorg_step_reorg")
        batch_op.create_index("ix_reorg_step_reorg", ["reorganisation_id", "kind"], unique=False)
