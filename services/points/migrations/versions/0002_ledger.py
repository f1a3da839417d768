"""points: ledger, lots, sales, refunds, holds, activities, program versions, bonus rules

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NEW_TABLES = ("ledger", "lots", "sales", "refunds", "holds", "hold_lots", "activities", "programs",
              "bonus_rules", "expiry_reminders")
NEW_ACCOUNT_COLUMNS = (
    sa.Column("member_number", sa.Text, nullable=True),
    sa.Column("registration_store", sa.Text, nullable=True),
    sa.Column("held", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("debt", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("merged_into", postgresql.UUID(as_uuid=False), nullable=True),
    sa.Column("tier_since", sa.DateTime(timezone=True), nullable=True),
)


def upgrade() -> None:
    for column in NEW_ACCOUNT_COLUMNS:
        op.add_column("accounts", column)
    op.create_unique_constraint("accounts_member_number_key", "accounts", ["member_number"])
    op.create_check_constraint("accounts_held_debt_nonnegative", "accounts", "held >= 0 AND debt >= 0")
    # written out (not read from tables.py), so later changes to tables.py never change this revision
    op.create_table('ledger',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('delta', sa.BigInteger(), nullable=False),
    sa.Column('store', sa.Text(), nullable=True),
    sa.Column('at_store', sa.Text(), nullable=True),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.Column('lot_id', sa.BigInteger(), nullable=True),
    sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('actor_id', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ledger_adjustment_once', 'ledger', ['reference', 'store'], unique=True,
                    postgresql_nulls_not_distinct=True,
                    postgresql_where=sa.text("kind = 'adjustment' AND reference IS NOT NULL"))
    op.create_index('ledger_created', 'ledger', ['created_at'], unique=False)
    op.create_index('ledger_member', 'ledger', ['member_id', 'id'], unique=False)
    op.create_table('lots',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('store', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('reference', sa.Text(), nullable=True),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('available_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('remaining >= 0 AND remaining <= points', name='lots_remaining_in_range'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('lots_expiring', 'lots', ['expires_at'], unique=False,
                    postgresql_where=sa.text('remaining > 0'))
    op.create_index('lots_member_open', 'lots', ['member_id'], unique=False,
                    postgresql_where=sa.text('remaining > 0'))
    op.create_table('sales',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('transaction_id', sa.Text(), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('terminal', sa.Text(), nullable=True),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('net_amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('currency', sa.Text(), nullable=False),
    sa.Column('sold_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('program_version', sa.Integer(), nullable=False),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('refunded_amount', sa.Numeric(precision=14, scale=2), server_default='0', nullable=False),
    sa.Column('points_reversed', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('redeemed_returned', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('store', 'transaction_id')
    )
    op.create_index('sales_member_time', 'sales', ['member_id', 'sold_at'], unique=False)
    op.create_table('refunds',
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('refund_id', sa.Text(), nullable=False),
    sa.Column('transaction_id', sa.Text(), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('refunded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('store', 'refund_id')
    )
    op.create_table('holds',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('terminal', sa.Text(), nullable=True),
    sa.Column('transaction_id', sa.Text(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('request_hash', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('store', 'transaction_id', name='holds_store_transaction')
    )
    op.create_index('holds_open_expiry', 'holds', ['expires_at'], unique=False,
                    postgresql_where=sa.text("status = 'held'"))
    op.create_table('hold_lots',
    sa.Column('hold_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('lot_id', sa.BigInteger(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('lot_store', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('hold_id', 'lot_id')
    )
    op.create_table('activities',
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'kind', 'key')
    )
    op.create_index('activities_referral_once', 'activities', ['key'], unique=True,
                    postgresql_where=sa.text("kind = 'referral'"))
    op.create_table('programs',
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('effective_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('program', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('version')
    )
    op.create_table('bonus_rules',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rule', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('source', sa.Text(), server_default='api', nullable=False),
    sa.Column('created_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('expiry_reminders',
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'expires_at')
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    for name in reversed(NEW_TABLES):
        op.drop_table(name)
    op.drop_constraint("accounts_held_debt_nonnegative", "accounts")
    op.drop_constraint("accounts_member_number_key", "accounts")
    for column in reversed(NEW_ACCOUNT_COLUMNS):
        op.drop_column("accounts", column.name)
