"""The catalog service's tables (its own database): stores, categories (a tree by parent code) and
products. Each row carries our version, the source that last wrote it, that source's own version
(bulk upserts are idempotent on it) and when it was last synced."""
import sqlalchemy as sa

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()


def _versioned() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("source", sa.Text, nullable=False, server_default="manual"),
        sa.Column("source_version", sa.BigInteger, nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    ]


stores = sa.Table(
    "stores", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("brand", sa.Text, nullable=True),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("time_zone", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("opened_on", sa.Date, nullable=True),
    *_versioned(),
    sa.CheckConstraint("status IN ('open', 'closed', 'suspended')", name="stores_status"),
)

categories = sa.Table(
    "categories", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("parent", sa.Text, sa.ForeignKey("categories.code"), nullable=True),
    *_versioned(),
    sa.Index("categories_parent", "parent"),
)

products = sa.Table(
    "products", metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, sa.ForeignKey("categories.code"), nullable=True),
    sa.Column("brand", sa.Text, nullable=True),
    sa.Column("unit_price", sa.Numeric(14, 2), nullable=False),
    sa.Column("excluded_from_earning", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("coupon_eligible", sa.Boolean, nullable=False, server_default=sa.true()),
    *_versioned(),
    sa.Index("products_category", "category"),
)
