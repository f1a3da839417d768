"""The campaign tables: campaigns, their history, audience, attributed sales, bonus and outcomes."""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from services.campaigns.meta import metadata
from services.campaigns.segments.tables import SUM

_NOW = sa.func.now()

campaigns = sa.Table(
    "campaigns", metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="draft"),
    sa.Column("segment_id", UUID(as_uuid=False), sa.ForeignKey("segments.id"), nullable=False),
    sa.Column("snapshot_id", UUID(as_uuid=False), sa.ForeignKey("segment_snapshots.id"), nullable=True),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("spec", JSONB, nullable=False),  # type parameters, recurrence, budgets, channel, template, ...
    sa.Column("control_share", sa.Numeric(5, 4), nullable=False, server_default="0"),
    sa.Column("attribution_days", sa.Integer, nullable=False, server_default="14"),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
    sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("ends_at > starts_at", name="campaigns_ends_after_start"),
)

campaign_history = sa.Table(
    "campaign_history", metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=False), sa.ForeignKey("campaigns.id"), nullable=False, index=True),
    sa.Column("from_status", sa.Text, nullable=True),
    sa.Column("to_status", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
)

# the audience fixed at launch: treated members are announced to, control members get nothing
campaign_members = sa.Table(
    "campaign_members", metadata,
    sa.Column("campaign_id", UUID(as_uuid=False), sa.ForeignKey("campaigns.id"), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("control", sa.Boolean, nullable=False),
    sa.Column("store", sa.Text, nullable=True),
    sa.Column("rewards", sa.Integer, nullable=False, server_default="0"),  # rewards given (per-member limit)
    sa.Index("campaign_members_member", "member_id"),  # a sale finds its member's campaigns
)

# the audience's sales inside each campaign's attribution window (launch to launch + attribution_days),
# from points.accrued, less what points.reversed refunded of them: what results count (decision 0012)
campaign_sales = sa.Table(
    "campaign_sales", metadata,
    sa.Column("campaign_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("transaction_id", sa.Text, primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("amount", SUM, nullable=False),
    sa.Column("refunded", SUM, nullable=False, server_default="0"),
    sa.Index("campaign_sales_sale", "store", "transaction_id"),  # a refund finds its sale
)

# notify's outcomes for campaign announcements (one row per message, the latest status)
# bonus points granted under a points campaign's rules (from points.accrued), per store of sale
campaign_bonus = sa.Table(
    "campaign_bonus", metadata,
    sa.Column("campaign_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("points", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("value", sa.Numeric(24, 6), nullable=False, server_default="0"),  # points x point value at sale
)

campaign_outcomes = sa.Table(
    "campaign_outcomes", metadata,
    sa.Column("message_id", sa.Text, primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=False), nullable=False, index=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
