"""campaigns: member read model, segments and snapshots, RFM scores and jobs, campaigns with
their history, audience and notify outcomes

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("campaign_members", "campaign_history", "snapshot_members", "campaigns", "segment_snapshots",  # drop order
          "segments", "rm_scores", "rm_purchases", "rm_members", "rfm_jobs", "campaign_outcomes")


def upgrade() -> None:
    # written out (not read from segment_tables.py), so later edits there never change this revision
    op.create_table('campaign_outcomes',
    sa.Column('message_id', sa.Text(), nullable=False),
    sa.Column('campaign_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('message_id')
    )
    op.create_index(op.f('ix_campaign_outcomes_campaign_id'), 'campaign_outcomes', ['campaign_id'], unique=False)
    op.create_table('rfm_jobs',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('status', sa.Text(), server_default='queued', nullable=False),
    sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('steps_done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('steps_total', sa.Integer(), server_default='3', nullable=False),
    sa.Column('members_scored', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('rm_members',
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('status', sa.Text(), server_default='active', nullable=False),
    sa.Column('tier', sa.Text(), server_default='normal', nullable=False),
    sa.Column('store', sa.Text(), nullable=True),
    sa.Column('channel', sa.Text(), nullable=True),
    sa.Column('gender', sa.Text(), nullable=True),
    sa.Column('birthday', sa.Date(), nullable=True),
    sa.Column('tags', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('balance_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_purchase_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('profile_version', sa.Integer(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_table('rm_purchases',
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('store', sa.Text(), nullable=False),
    sa.Column('purchases', sa.Integer(), server_default='0', nullable=False),
    sa.Column('spend', sa.Numeric(precision=14, scale=2), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'day', 'store')
    )
    op.create_table('rm_scores',
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('recency_days', sa.Integer(), nullable=True),
    sa.Column('frequency', sa.Integer(), nullable=True),
    sa.Column('monetary', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('r', sa.SmallInteger(), nullable=True),
    sa.Column('f', sa.SmallInteger(), nullable=True),
    sa.Column('m', sa.SmallInteger(), nullable=True),
    sa.Column('rfm_group', sa.Text(), nullable=True),
    sa.Column('abcd', sa.Text(), nullable=True),
    sa.Column('lifecycle', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('member_id')
    )
    op.create_table('segments',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('rule', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('segment_snapshots',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('segment_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('rule', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('campaigns',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='draft', nullable=False),
    sa.Column('segment_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('snapshot_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('control_share', sa.Numeric(precision=5, scale=4), server_default='0', nullable=False),
    sa.Column('attribution_days', sa.Integer(), server_default='14', nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_by', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('launched_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('ends_at > starts_at', name='campaigns_ends_after_start'),
    sa.ForeignKeyConstraint(['segment_id'], ['segments.id'], ),
    sa.ForeignKeyConstraint(['snapshot_id'], ['segment_snapshots.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('snapshot_members',
    sa.Column('snapshot_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['segment_snapshots.id'], ),
    sa.PrimaryKeyConstraint('snapshot_id', 'member_id')
    )
    op.create_table('campaign_history',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('campaign_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('from_status', sa.Text(), nullable=True),
    sa.Column('to_status', sa.Text(), nullable=False),
    sa.Column('actor', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_campaign_history_campaign_id'), 'campaign_history', ['campaign_id'], unique=False)
    op.create_table('campaign_members',
    sa.Column('campaign_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('control', sa.Boolean(), nullable=False),
    sa.Column('store', sa.Text(), nullable=True),
    sa.Column('rewards', sa.Integer(), server_default='0', nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ),
    sa.PrimaryKeyConstraint('campaign_id', 'member_id')
    )


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
