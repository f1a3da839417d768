"""The points service's tables (its own database).

Invariants the code keeps, each change under the member's account row lock:
  accounts.balance == sum(ledger.delta) for the member
  sum(lots.remaining) == max(0, balance - held)      (held points left their lots)
  accounts.held == sum(points) of the member's holds in status 'held'
"""
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()
MONEY = sa.Numeric(14, 2)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("tier", sa.Text, nullable=False, server_default="normal"),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("opened_by_event", UUID(as_uuid=False), nullable=True),
    sa.Column("member_number", sa.Text, nullable=True),
    sa.Column("registration_store", sa.Text, nullable=True),
    sa.Column("held", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("debt", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.Text, nullable=False, server_default="active"),
    sa.Column("merged_into", UUID(as_uuid=False), nullable=True),
    sa.Column("tier_since", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("member_number", name="accounts_member_number_key"),
    sa.CheckConstraint("held >= 0 AND debt >= 0", name="accounts_held_debt_nonnegative"),
)

ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("delta", sa.BigInteger, nullable=False),
    sa.Column("store", sa.Text, nullable=True),      # whose points (issuing store): liability, settlement
    sa.Column("at_store", sa.Text, nullable=True),   # where it happened
    sa.Column("reference", sa.Text, nullable=True),
    sa.Column("lot_id", sa.BigInteger, nullable=True),
    sa.Column("detail", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("actor_id", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("ledger_member", "member_id", "id"),
    sa.Index("ledger_created", "created_at"),
    # an adjustment spending points of several stores writes one row per store, all under one reference
    sa.Index("ledger_adjustment_once", "reference", "store", unique=True, postgresql_nulls_not_distinct=True,
             postgresql_where=sa.text("kind = 'adjustment' AND reference IS NOT NULL")),
)

lots = sa.Table(
    "lots",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("store", sa.Text, nullable=True),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("reference", sa.Text, nullable=True),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("remaining", sa.BigInteger, nullable=False),
    sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("remaining >= 0 AND remaining <= points", name="lots_remaining_in_range"),
    sa.Index("lots_member_open", "member_id", postgresql_where=sa.text("remaining > 0")),
    sa.Index("lots_expiring", "expires_at", postgresql_where=sa.text("remaining > 0")),
)

sales = sa.Table(
    "sales",
    metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("transaction_id", sa.Text, primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("terminal", sa.Text, nullable=True),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("net_amount", MONEY, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("sold_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("program_version", sa.Integer, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("result", JSONB, nullable=False),
    sa.Column("refunded_amount", MONEY, nullable=False, server_default="0"),
    sa.Column("points_reversed", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("redeemed_returned", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("sales_member_time", "member_id", "sold_at"),
    # imported from a legacy system in history-only mode: recorded, earned nothing
    sa.Column("history", sa.Boolean, nullable=False, server_default=sa.false()),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("refund_id", sa.Text, primary_key=True),
    sa.Column("transaction_id", sa.Text, nullable=False),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("amount", MONEY, nullable=False),
    sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("result", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

holds = sa.Table(
    "holds",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("store", sa.Text, nullable=False),
    sa.Column("terminal", sa.Text, nullable=True),
    sa.Column("transaction_id", sa.Text, nullable=False),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("request_hash", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("store", "transaction_id", name="holds_store_transaction"),
    sa.Index("holds_open_expiry", "expires_at", postgresql_where=sa.text("status = 'held'")),
)

hold_lots = sa.Table(
    "hold_lots",
    metadata,
    sa.Column("hold_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("lot_id", sa.BigInteger, primary_key=True),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("lot_store", sa.Text, nullable=True),
)

activities = sa.Table(
    "activities",
    metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("activities_referral_once", "key", unique=True, postgresql_where=sa.text("kind = 'referral'")),
)

programs = sa.Table(
    "programs",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
    sa.Column("program", JSONB, nullable=False),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

bonus_rules = sa.Table(
    "bonus_rules",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rule", JSONB, nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default="api"),
    sa.Column("created_by", sa.Text, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("audience", sa.Text, nullable=True),  # only members in bonus_audiences under this name
)

# members a campaign's audience-only bonus rules reward (campaign.audience_granted)
bonus_audiences = sa.Table(
    "bonus_audiences",
    metadata,
    sa.Column("audience", sa.Text, primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
)

# the bonus points all rules of one source (a campaign) may grant, and what they granted so far
bonus_budgets = sa.Table(
    "bonus_budgets",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("cap", sa.BigInteger, nullable=True),  # NULL: no cap (still counted)
    sa.Column("granted", sa.BigInteger, nullable=False, server_default="0"),
    sa.CheckConstraint("granted >= 0 AND (cap IS NULL OR granted <= cap)", name="bonus_budgets_within_cap"),
    sa.Column("per_member", sa.Integer, nullable=True),  # most sales of one member earning the source's bonus
)

# sales of one member that earned a source's bonus (for its per-member limit)
bonus_member_awards = sa.Table(
    "bonus_member_awards",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("awards", sa.Integer, nullable=False),
)

reminders = sa.Table(
    "expiry_reminders",
    metadata,
    sa.Column("member_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("expires_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("points", sa.BigInteger, nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# the catalog's stores as points needs them (fed by store.changed): each store's time zone
store_zones = sa.Table(
    "store_zones",
    metadata,
    sa.Column("store_code", sa.Text, primary_key=True),
    sa.Column("time_zone", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# the catalog's products and categories as points needs them (fed by product.changed and
# category.changed): what earns nothing, and the category tree for rules on a category's subtree
catalog_products = sa.Table(
    "catalog_products",
    metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("category", sa.Text),
    sa.Column("category_path", JSONB, nullable=False),
    sa.Column("excluded_from_earning", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("catalog_products_updated", "updated_at"),
)

catalog_categories = sa.Table(
    "catalog_categories",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("parent", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Index("catalog_categories_updated", "updated_at"),
)

# moving a chain onto the platform: a legacy program's balances and tiers, staged, approved, applied
migration_imports = sa.Table(
    "migration_imports",
    metadata,
    sa.Column("id", UUID(as_uuid=False), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("status", sa.Text, nullable=False, server_default="staging"),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("approved_by", sa.Text, nullable=True),
    sa.Column("rows_staged", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rows_applied", sa.Integer, nullable=False, server_default="0"),
    sa.Column("points_total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('balances', 'tiers')", name="migration_imports_kind"),
    sa.CheckConstraint("status IN ('staging', 'approved', 'applied', 'rejected')", name="migration_imports_status"),
)

# each staged row once per (import, row key): staging the same file again stages nothing twice
migration_rows = sa.Table(
    "migration_rows",
    metadata,
    sa.Column("import_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("row_key", sa.Text, primary_key=True),
    sa.Column("line", sa.Integer, nullable=False),
    sa.Column("member_id", UUID(as_uuid=False), nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
)

migration_errors = sa.Table(
    "migration_errors",
    metadata,
    sa.Column("import_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("line", sa.Integer, primary_key=True),
    sa.Column("row_key", sa.Text, nullable=True),
    sa.Column("field", sa.Text, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
)
