"""The feed service's tables (its own database): the feed in one total order (``position``), the
members erased (so a late event of theirs is scrubbed on arrival), the feed's bookkeeping, webhook
subscriptions and their deliveries."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()

feed_events = sa.Table(
    "feed_events", metadata,
    sa.Column("position", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=False), nullable=False, unique=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("member_id", sa.Text, nullable=True),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("payload", JSONB, nullable=False),
    sa.Index("feed_events_member", "member_id"),
    sa.Index("feed_events_recorded_at", "recorded_at"),
)

erased_members = sa.Table(
    "erased_members", metadata,
    sa.Column("member_id", sa.Text, primary_key=True),
    sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
)

# one row: the highest position the retention purge deleted (a cursor below it missed events: 410)
feed_state = sa.Table(
    "feed_state", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("purged_through", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("id = 1", name="feed_state_one_row"),
)

webhooks = sa.Table(
    "webhooks", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("types", JSONB, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("scanned_through", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("round", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("webhook_id", UUID(as_uuid=False), sa.ForeignKey("webhooks.id"), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("order_key", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'dead', 'superseded')", name="webhook_deliveries_status"),
    sa.UniqueConstraint("webhook_id", "round", "position", name="webhook_deliveries_once"),
    sa.Index("webhook_deliveries_pending", "webhook_id", "order_key", "position",
             postgresql_where=sa.text("status = 'pending'")),
    sa.Index("webhook_deliveries_by_status", "webhook_id", "status", "id"),
)
