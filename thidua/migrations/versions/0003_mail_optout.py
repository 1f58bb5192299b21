"""mail_optout: one-click unsubscribe (RFC 8058) from reminders and digests

Revision ID: 0003_mail_optout
Revises: 0002
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003_mail_optout"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_optout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_optout", schema=None) as batch_op:
        batch_op.create_index("ix_mail_optout_recipient", ["recipient", "campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_optout", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_optout_recipient")
    op.drop_table("mail_optout")
