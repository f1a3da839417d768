"""The notify service's tables (its own database).

messages is the delivery log: one row per message with its current status (queued, sending, sent,
delivered, failed, suppressed), reason, provider message id and attempts; message_log keeps each
step. A failed message is the dead-letter list (dead_at set, replayed_at when ops replayed it).
Rendered text is not stored (it can hold codes and names); variables are, until the member is erased.
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from service_runtime.store_zones import table as store_zones_table
from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()

templates = sa.Table(
    "templates", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),
    sa.Column("locale", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_by", sa.Text, nullable=True),
)

consents = sa.Table(
    "consents", metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("channel", sa.Text, primary_key=True),  # sms | email | push | marketing
    sa.Column("granted", sa.Boolean, nullable=False),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
)

messages = sa.Table(
    "messages", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("dedupe_key", sa.Text, nullable=False, unique=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=True),
    sa.Column("campaign_id", sa.Text, nullable=True),
    sa.Column("template", sa.Text, nullable=False),
    sa.Column("marketing", sa.Boolean, nullable=False),
    sa.Column("channel", sa.Text, nullable=False),
    sa.Column("store", sa.Text, nullable=True),
    sa.Column("variables", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("recipient_hash", sa.Text, nullable=True),  # login codes: HMAC of the phone, rate limit
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("provider_message_id", sa.Text, nullable=True),
    sa.Column("not_before", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("dead_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'suppressed')",
                       name="messages_status"),
    sa.Index("messages_due", "channel", "not_before", postgresql_where=sa.text("status = 'queued'")),
    sa.Index("messages_member", "member_id", "created_at"),
    sa.Index("messages_campaign", "campaign_id", "created_at"),
    sa.Index("messages_dead", "dead_at", postgresql_where=sa.text("status = 'failed'")),
    sa.Index("messages_provider_id", "provider_message_id"),
    sa.Index("messages_recipient", "recipient_hash", "created_at"),
)

message_log = sa.Table(
    "message_log", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("message_id", UUID(as_uuid=False), nullable=False),
    sa.Column("status", sa.Text, nullable=False),  # queued, deferred, sending, retry, sent, delivered, ...
    sa.Column("detail", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("message_log_message", "message_id", "id"),
)

# a member's WeChat openids (one per app: mini-program, official account), linked with the member's
# consent: at mini-program login by phone, by the OA's web authorisation, or (same unionid) when a
# linked WeChat user follows the OA; erased with the member
wechat_links = sa.Table(
    "wechat_links", metadata,
    sa.Column("app_id", sa.Text, primary_key=True),
    sa.Column("openid", sa.Text, primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("unionid", sa.Text, nullable=True),
    sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("kind", sa.Text, nullable=False, server_default="mini"),  # mini | official
    sa.CheckConstraint("kind IN ('mini', 'official')", name="wechat_links_kind"),
    sa.Index("wechat_links_member", "member_id"),
    sa.Index("wechat_links_unionid", "unionid", postgresql_where=sa.text("unionid IS NOT NULL")),
)

# who follows the official account now (its subscribe/unsubscribe pushes): template messages reach
# only followers, and a follower whose unionid a member's link carries is linked to that member
wechat_followers = sa.Table(
    "wechat_followers", metadata,
    sa.Column("app_id", sa.Text, primary_key=True),
    sa.Column("openid", sa.Text, primary_key=True),
    sa.Column("unionid", sa.Text, nullable=True),
    sa.Column("followed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("wechat_followers_unionid", "unionid", postgresql_where=sa.text("unionid IS NOT NULL")),
)

# the catalog's store time zones (fed by store.changed): quiet hours and caps by the store's local day
store_zones = store_zones_table(metadata)
