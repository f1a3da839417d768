"""points: catalog_products and catalog_categories, the read model of the catalog's products
(exclusions, categories) and category tree

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_products",
        sa.Column("sku", sa.Text(), primary_key=True),
        sa.Column("category", sa.Text()),
        sa.Column("category_path", JSONB(), nullable=False),
        sa.Column("excluded_from_earning", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("catalog_products_updated", "catalog_products", ["updated_at"])
    op.create_table(
        "catalog_categories",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("parent", sa.Text()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index("catalog_categories_updated", "catalog_categories", ["updated_at"])


def downgrade() -> None:
    op.drop_table("catalog_categories")
    op.drop_table("catalog_products")
