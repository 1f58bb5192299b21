"""nomination quota counters (issue 17): live nominations per quota group, kept in step with each transition

Revision ID: 0012_h17b_quota_counts
Revises: 0011_unit_attributes
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_h17b_quota_counts"
down_revision = "0011_unit_attributes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Empty: each counter is counted from the nominations the first time a proposal needs it.
    op.create_table(
        "nomination_quota_count",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("quota_key", sa.String(length=120), nullable=False),
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("round_number", sa.Integer(), nullable=False),
        sa.Column("live", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"]),
        sa.PrimaryKeyConstraint("campaign_id", "quota_key", "scope_id", "round_number"),
    )


def downgrade() -> None:
    op.drop_table("nomination_quota_count")
