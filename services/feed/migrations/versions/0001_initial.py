"""feed: outbox and inbox, the feed, erased members, webhooks and their deliveries

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

from service_runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "feed_events",
        sa.Column("position", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Text(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("payload", JSONB(), nullable=False),
    )
    op.create_index("feed_events_member", "feed_events", ["member_id"])
    op.create_index("feed_events_recorded_at", "feed_events", ["recorded_at"])
    op.create_table(
        "erased_members",
        sa.Column("member_id", sa.Text(), primary_key=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feed_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("purged_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("id = 1", name="feed_state_one_row"),
    )
    op.execute("INSERT INTO feed_state (id, purged_through) VALUES (1, 0)")
    op.create_table(
        "webhooks",
        sa.Column("id", UUID(as_uuid=False), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("types", JSONB(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("scanned_through", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("round", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("webhook_id", UUID(as_uuid=False), sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("order_key", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'dead', 'superseded')",
                           name="webhook_deliveries_status"),
        sa.UniqueConstraint("webhook_id", "round", "position", name="webhook_deliveries_once"),
    )
    op.create_index("webhook_deliveries_pending", "webhook_deliveries", ["webhook_id", "order_key", "position"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("webhook_deliveries_by_status", "webhook_deliveries", ["webhook_id", "status", "id"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("feed_state")
    op.drop_table("erased_members")
    op.drop_table("feed_events")
    op.drop_table("inbox")
    op.drop_table("outbox")
