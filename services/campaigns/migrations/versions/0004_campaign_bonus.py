"""campaigns: bonus points granted under each campaign's rules, per store of sale; the reward
number of a campaign's coupon jobs (a member's second coupon of a campaign is another coupon)

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_bonus",
        sa.Column("campaign_id", sa.UUID(as_uuid=False), primary_key=True),
        sa.Column("store", sa.Text, primary_key=True),
        sa.Column("points", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("value", sa.Numeric(18, 6), nullable=False, server_default="0"),
    )
    op.add_column("coupon_jobs", sa.Column("occurrence", sa.Integer, nullable=True))


def downgrade() -> None:
    op.drop_column("coupon_jobs", "occurrence")
    op.drop_table("campaign_bonus")
