"""recurring obligations: one obligation row per period

Revision ID: 0006_recurring_obligations
Revises: 0005_reorg_step_index
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010_recurring_obligations"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("obligation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("series", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column("period_key", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("period_starts", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("period_ends", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_obligation_series"), ["series"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("obligation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_obligation_series"))
        batch_op.drop_column("period_ends")
        batch_op.drop_column("period_starts")
        batch_op.drop_column("period_key")
        batch_op.drop_column("series")
