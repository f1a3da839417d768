"""campaigns: coupon templates, coupons, redemptions, issue jobs, the rewards catalog and exchanges

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("catalog_exchanges", "catalog_items", "coupon_jobs", "coupon_redemptions", "coupon_templates", "coupons")


def upgrade() -> None:
    # written out (not read from coupon_tables.py), so later edits there never change this revision
    op.create_table('catalog_exchanges',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('exchange_key', sa.Text(), nullable=False),
    sa.Column('item_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('state', sa.Text(), server_default='pending', nullable=False),
    sa.Column('hold_id', sa.Text(), nullable=True),
    sa.Column('coupon_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'exchange_key', name='catalog_exchanges_key')
    )
    op.create_index('catalog_exchanges_open', 'catalog_exchanges', ['updated_at'], unique=False,
                    postgresql_where=sa.text("state IN ('pending', 'rewarded')"))
    op.create_table('catalog_items',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('template_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('gift_sku', sa.Text(), nullable=True),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('stock', sa.BigInteger(), nullable=True),
    sa.Column('exchanged', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('stock IS NULL OR stock >= 0', name='catalog_items_stock_nonnegative'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('coupon_jobs',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('template_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('campaign_id', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('member_ids', postgresql.ARRAY(sa.UUID(as_uuid=False)), nullable=False),
    sa.Column('status', sa.Text(), server_default='queued', nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), server_default='0', nullable=False),
    sa.Column('issued', sa.Integer(), server_default='0', nullable=False),
    sa.Column('skipped', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('coupon_jobs_open', 'coupon_jobs', ['created_at'], unique=False,
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_table('coupon_redemptions',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('transaction_id', sa.Text(), nullable=False),
    sa.Column('terminal', sa.Text(), nullable=True),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('coupon_ids', postgresql.ARRAY(sa.UUID(as_uuid=False)), nullable=False),
    sa.Column('discount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('state', sa.Text(), server_default='redeemed', nullable=False),
    sa.Column('refund_result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('store', 'transaction_id', name='coupon_redemptions_sale_key')
    )
    op.create_table('coupon_templates',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('terms', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('budget_count', sa.BigInteger(), nullable=True),
    sa.Column('budget_value', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('face_value', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('per_member_limit', sa.Integer(), nullable=True),
    sa.Column('issued_count', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('issued_value', sa.Numeric(precision=14, scale=2), server_default='0', nullable=False),
    sa.Column('created_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('budget_count IS NULL OR issued_count <= budget_count', name='coupon_templates_count_budget'),
    sa.CheckConstraint('budget_value IS NULL OR issued_value <= budget_value', name='coupon_templates_value_budget'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('coupons',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('template_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('state', sa.Text(), server_default='issued', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('campaign_id', sa.Text(), nullable=True),
    sa.Column('job_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('issue_key', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('redemption_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('redeemed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('discount', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code', name='coupons_code_key'),
    sa.UniqueConstraint('issue_key', name='coupons_issue_key_key')
    )
    op.create_index('coupons_campaign', 'coupons', ['campaign_id'], unique=False,
                    postgresql_where=sa.text('campaign_id IS NOT NULL'))
    op.create_index('coupons_member', 'coupons', ['member_id', 'template_id'], unique=False)
    op.create_index('coupons_template_redeemed', 'coupons', ['template_id'], unique=False,
                    postgresql_where=sa.text("state = 'redeemed'"))


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
