"""unit attributes (typed facts declared in config/unit_attributes.yaml) and per-unit target quotas

Revision ID: 0007_unit_attributes
Revises: 0006_recurring_obligations
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_unit_attributes"
down_revision = "0010_recurring_obligations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attributes", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quotas", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("target", schema=None) as batch_op:
        batch_op.drop_column("quotas")
    with op.batch_alter_table("unit", schema=None) as batch_op:
        batch_op.drop_column("attributes")
