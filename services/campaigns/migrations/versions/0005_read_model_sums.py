"""campaigns: the read model's money sums hold every sum of accepted sales (a sale is at most
numeric(14, 2), a member's day, window or a campaign's total is more): numeric(20, 2) and
numeric(24, 6); one sale of 999,999,999,999.99 failed here on `numeric field overflow`

Revision ID: 0005_sums
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_sums"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("rm_purchases", "spend", type_=sa.Numeric(20, 2))
    op.alter_column("rm_scores", "monetary", type_=sa.Numeric(20, 2))
    op.alter_column("campaign_bonus", "value", type_=sa.Numeric(24, 6))


def downgrade() -> None:
    op.alter_column("campaign_bonus", "value", type_=sa.Numeric(18, 6))
    op.alter_column("rm_scores", "monetary", type_=sa.Numeric(14, 2))
    op.alter_column("rm_purchases", "spend", type_=sa.Numeric(14, 2))
