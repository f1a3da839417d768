"""catalog: outbox and inbox, stores, categories, products

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

from service_runtime.migrate import create_runtime_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _versioned() -> list[sa.Column]:  # type: ignore[type-arg]
    # written out (not read from tables.py), so later changes to tables.py never change this revision
    return [
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("source", sa.Text(), server_default="manual", nullable=False),
        sa.Column("source_version", sa.BigInteger(), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    create_runtime_tables(op)
    op.create_table(
        "stores",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("brand", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=True),
        *_versioned(),
        sa.CheckConstraint("status IN ('open', 'closed', 'suspended')", name="stores_status"),
    )
    op.create_table(
        "categories",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent", sa.Text(), sa.ForeignKey("categories.code"), nullable=True),
        *_versioned(),
    )
    op.create_index("categories_parent", "categories", ["parent"])
    op.create_table(
        "products",
        sa.Column("sku", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("category", sa.Text(), sa.ForeignKey("categories.code"), nullable=True),
        sa.Column("brand", sa.Text(), nullable=True),
        sa.Column("unit_price", sa.Numeric(14, 2), nullable=False),
        sa.Column("excluded_from_earning", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("coupon_eligible", sa.Boolean(), server_default=sa.true(), nullable=False),
        *_versioned(),
    )
    op.create_index("products_category", "products", ["category"])


def downgrade() -> None:
    op.drop_table("products")
    op.drop_table("categories")
    op.drop_table("stores")
    op.drop_table("inbox")
    op.drop_table("outbox")
