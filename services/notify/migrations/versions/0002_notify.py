"""notify: templates, messages (the delivery log and dead-letter list), message log, consent

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # written out (not read from tables.py), so later changes to tables.py never change this revision
    op.create_table('consents',
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('member_id', 'channel')
    )
    op.create_table('message_log',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('message_id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('message_log_message', 'message_log', ['message_id', 'id'], unique=False)
    op.create_table('messages',
    sa.Column('id', sa.UUID(as_uuid=False), nullable=False),
    sa.Column('dedupe_key', sa.Text(), nullable=False),
    sa.Column('member_id', sa.UUID(as_uuid=False), nullable=True),
    sa.Column('campaign_id', sa.Text(), nullable=True),
    sa.Column('template', sa.Text(), nullable=False),
    sa.Column('marketing', sa.Boolean(), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('store', sa.Text(), nullable=True),
    sa.Column('variables', postgresql.JSONB(astext_type=sa.Text()),
              server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('recipient_hash', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('provider_message_id', sa.Text(), nullable=True),
    sa.Column('not_before', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('dead_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replayed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'suppressed')",
                       name='messages_status'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index('messages_campaign', 'messages', ['campaign_id', 'created_at'], unique=False)
    op.create_index('messages_dead', 'messages', ['dead_at'], unique=False,
                    postgresql_where=sa.text("status = 'failed'"))
    op.create_index('messages_due', 'messages', ['channel', 'not_before'], unique=False,
                    postgresql_where=sa.text("status = 'queued'"))
    op.create_index('messages_member', 'messages', ['member_id', 'created_at'], unique=False)
    op.create_index('messages_provider_id', 'messages', ['provider_message_id'], unique=False)
    op.create_index('messages_recipient', 'messages', ['recipient_hash', 'created_at'], unique=False)
    op.create_table('templates',
    sa.Column('key', sa.Text(), nullable=False),
    sa.Column('channel', sa.Text(), nullable=False),
    sa.Column('locale', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_by', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('key', 'channel', 'locale')
    )


def downgrade() -> None:
    for table in ("message_log", "messages", "consents", "templates"):
        op.drop_table(table)
