"""Coupon templates, coupons, redemptions, issue jobs and the rewards catalog.

Invariants, each kept under a row lock:
  coupon_templates.issued_count / issued_value only grow, never past budget_count / budget_value
      (issuing locks the template row);
  a coupon is redeemed by at most one redemption at a time (redeeming locks the coupon rows);
  catalog_items.stock >= 0 (a check constraint, and exchanges take stock with a conditional update).
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

from services.campaigns.meta import metadata

MONEY = sa.Numeric(14, 2)

coupon_templates = sa.Table(
    "coupon_templates",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("terms", JSONB, nullable=False),  # the CouponTemplate as given (amounts as strings)
    sa.Column("budget_count", sa.BigInteger, nullable=True),
    sa.Column("budget_value", MONEY, nullable=True),
    sa.Column("face_value", MONEY, nullable=False),
    sa.Column("per_member_limit", sa.Integer, nullable=True),
    sa.Column("issued_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("issued_value", MONEY, nullable=False, server_default="0"),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("budget_count IS NULL OR issued_count <= budget_count", name="coupon_templates_count_budget"),
    sa.CheckConstraint("budget_value IS NULL OR issued_value <= budget_value", name="coupon_templates_value_budget"),
)

coupons = sa.Table(
    "coupons",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("template_id", UUID(as_uuid=False), nullable=False),
    sa.Column("member_id", UUID(as_uuid=False), nullable=True),  # NULL once the member is erased
    sa.Column("state", sa.Text, nullable=False, server_default="issued"),  # issued | redeemed | void
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("campaign_id", sa.Text, nullable=True),
    sa.Column("job_id", UUID(as_uuid=False), nullable=True),
    sa.Column("issue_key", sa.Text, nullable=True),  # idempotency: job/campaign + member, request, exchange
    sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("redemption_id", UUID(as_uuid=False), nullable=True),
    sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("discount", MONEY, nullable=True),
    sa.UniqueConstraint("code", name="coupons_code_key"),
    sa.UniqueConstraint("issue_key", name="coupons_issue_key_key"),
    sa.Index("coupons_member", "member_id", "template_id"),
    sa.Index("coupons_template_redeemed", "template_id", postgresql_where=sa.text("state = 'redeemed'")),
    sa.Index("coupons_campaign", "campaign_id", postgresql_where=sa.text("campaign_id IS NOT NULL")),
)

coupon_redemptions = sa.Table(
    "coupon_redemptions",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("store", sa.Text, nullable=False),
    sa.Column("transaction_id", sa.Text, nullable=False),
    sa.Column("terminal", sa.Text, nullable=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("result", JSONB, nullable=False),
    sa.Column("coupon_ids", ARRAY(UUID(as_uuid=False)), nullable=False),
    sa.Column("discount", MONEY, nullable=False),
    sa.Column("state", sa.Text, nullable=False, server_default="redeemed"),  # redeemed | refunded
    sa.Column("refund_result", JSONB, nullable=True),
    sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("store", "transaction_id", name="coupon_redemptions_sale_key"),
)

coupon_jobs = sa.Table(
    "coupon_jobs",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("template_id", UUID(as_uuid=False), nullable=False),
    sa.Column("campaign_id", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("member_ids", ARRAY(UUID(as_uuid=False)), nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),  # queued | running | done | failed
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    sa.Column("issued", sa.Integer, nullable=False, server_default="0"),
    sa.Column("skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("occurrence", sa.Integer, nullable=True),  # a campaign's nth reward to these members
    sa.Column("skipped_reasons", JSONB, nullable=False, server_default="{}"),  # reason -> members skipped
    sa.Column("skipped_members", JSONB, nullable=False, server_default="[]"),  # [[id, reason]]: ids no member
    sa.Index("coupon_jobs_open", "created_at", postgresql_where=sa.text("status IN ('queued', 'running')")),
)

catalog_items = sa.Table(
    "catalog_items",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # coupon | gift
    sa.Column("template_id", UUID(as_uuid=False), nullable=True),
    sa.Column("gift_sku", sa.Text, nullable=True),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("stock", sa.BigInteger, nullable=True),
    sa.Column("exchanged", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("stock IS NULL OR stock >= 0", name="catalog_items_stock_nonnegative"),
)

catalog_exchanges = sa.Table(
    "catalog_exchanges",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=True),
    sa.Column("exchange_key", sa.Text, nullable=False),
    sa.Column("item_id", UUID(as_uuid=False), nullable=False),
    sa.Column("store", sa.Text, nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    # pending (hold asked) -> rewarded (coupon issued or stock taken) -> completed (hold committed);
    # or failed (nothing given, hold released)
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("hold_id", sa.Text, nullable=True),
    sa.Column("coupon_id", UUID(as_uuid=False), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("member_id", "exchange_key", name="catalog_exchanges_key"),
    sa.Index("catalog_exchanges_open", "updated_at", postgresql_where=sa.text("state IN ('pending', 'rewarded')")),
)
