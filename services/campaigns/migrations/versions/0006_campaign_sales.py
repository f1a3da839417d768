"""campaigns: attributed sales by time of sale, not by day (a sale minutes before a launch was
counted as the campaign's), net of their refunds; campaign_members by member for the sale handler.

Campaigns launched before this revision get their window's sales back from the daily read model,
whole days after the launch day only (the time of a sale on that day is not known).

Revision ID: 0006_sales
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0006_sales"
down_revision = "0005_sums"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_sales",
        sa.Column("campaign_id", UUID(as_uuid=False), primary_key=True),
        sa.Column("store", sa.Text, primary_key=True),
        sa.Column("transaction_id", sa.Text, primary_key=True),
        sa.Column("member_id", UUID(as_uuid=False), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", sa.Numeric(20, 2), nullable=False),
        sa.Column("refunded", sa.Numeric(20, 2), nullable=False, server_default="0"),
    )
    op.create_index("campaign_sales_sale", "campaign_sales", ["store", "transaction_id"])
    op.create_index("campaign_members_member", "campaign_members", ["member_id"])
    op.execute("""
        INSERT INTO campaign_sales (campaign_id, store, transaction_id, member_id, at, amount)
        SELECT cm.campaign_id, p.store, 'day:' || p.day, p.member_id, p.day::timestamptz, greatest(p.spend, 0)
        FROM campaign_members cm
        JOIN campaigns c ON c.id = cm.campaign_id
        JOIN rm_purchases p ON p.member_id = cm.member_id
        WHERE c.launched_at IS NOT NULL AND p.purchases > 0 AND p.day > c.launched_at::date
          AND p.day < (c.launched_at + make_interval(days => c.attribution_days))::date""")


def downgrade() -> None:
    op.drop_index("campaign_members_member", "campaign_members")
    op.drop_table("campaign_sales")
