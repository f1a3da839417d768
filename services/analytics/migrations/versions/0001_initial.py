"""analytics: outbox and inbox, read models of stores, products and members, and the aggregates per
store and day, hour, month, category and SKU (docs/decisions/0025-analytics-pre-aggregation.md)

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from service_runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table('chain_month',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('buyers', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('repeat_buyers', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('month')
    )
    op.create_table('cohort_activity',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('cohort', sa.Date(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('members', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'cohort', 'month')
    )
    op.create_table('cohorts',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('cohort', sa.Date(), nullable=False),
    sa.Column('members', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'cohort')
    )
    op.create_table('coupon_day',
    sa.Column('template_id', sa.Text(), nullable=False),
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('issued', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('redeemed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('restored', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('discount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('template_id', 'store', 'day')
    )
    op.create_index('coupon_day_store', 'coupon_day', ['store', 'day'], unique=False)
    op.create_table('erp_sales',
    sa.Column('connection', sa.Text(), nullable=False),
    sa.Column('transaction_id', sa.Text(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('connection', 'transaction_id')
    )
    op.create_table('member_months',
    sa.Column('member_id', sa.Text(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('sales', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'month')
    )
    op.create_table('member_store_months',
    sa.Column('member_id', sa.Text(), nullable=False),
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('sales', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'store', 'month')
    )
    op.create_table('members',
    sa.Column('member_id', sa.Text(), nullable=False),
    sa.Column('cohort', sa.Date(), nullable=True),
    sa.Column('store', sa.Text(), server_default='', nullable=False),
    sa.Column('purchases', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_table('products',
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('sku')
    )
    op.create_table('store_day',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('member_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('new_buyer_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('returning_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('registrations', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('refunds', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('erp_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_issued', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_redeemed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_reversed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('member_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('refund_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('erp_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'day')
    )
    op.create_index('store_day_day', 'store_day', ['day'], unique=False)
    op.create_table('store_day_category',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('lines', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=3), server_default='0', nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'day', 'category')
    )
    op.create_index('store_day_category_day', 'store_day_category', ['day'], unique=False)
    op.create_table('store_day_sku',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('lines', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=3), server_default='0', nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'day', 'sku')
    )
    op.create_index('store_day_sku_day', 'store_day_sku', ['day'], unique=False)
    op.create_table('store_hour',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('member_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('erp_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_issued', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_redeemed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('member_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('erp_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'day', 'hour')
    )
    op.create_index('store_hour_day', 'store_hour', ['day'], unique=False)
    op.create_table('store_month',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('buyers', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('repeat_buyers', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'month')
    )
    op.create_table('store_month_category',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('weekend', sa.Boolean(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('lines', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=3), server_default='0', nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'month', 'weekend', 'category')
    )
    op.create_index('store_month_category_month', 'store_month_category', ['month'], unique=False)
    op.create_table('store_month_hour',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('weekend', sa.Boolean(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('member_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('erp_sales', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_issued', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('points_redeemed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('member_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.Column('erp_amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'month', 'weekend', 'hour')
    )
    op.create_index('store_month_hour_month', 'store_month_hour', ['month'], unique=False)
    op.create_table('store_month_sku',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('weekend', sa.Boolean(), nullable=False),
    sa.Column('sku', sa.Text(), nullable=False),
    sa.Column('lines', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('qty', sa.Numeric(precision=18, scale=3), server_default='0', nullable=False),
    sa.Column('amount', sa.Numeric(precision=18, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('store', 'month', 'weekend', 'sku')
    )
    op.create_index('store_month_sku_month', 'store_month_sku', ['month'], unique=False)
    op.create_table('stores',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('region', sa.Text(), nullable=True),
    sa.Column('brand', sa.Text(), nullable=True),
    sa.Column('time_zone', sa.Text(), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_index('stores_region', 'stores', ['region'], unique=False)


def downgrade() -> None:
    for table in (
        "stores", "store_month_sku", "store_month_hour", "store_month_category", "store_month", "store_hour",
        "store_day_sku", "store_day_category", "store_day", "products", "members", "member_store_months",
        "member_months", "erp_sales", "coupon_day", "cohorts", "cohort_activity", "chain_month", "outbox", "inbox",
    ):
        op.drop_table(table)
