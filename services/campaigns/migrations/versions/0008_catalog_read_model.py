"""campaigns: catalog_stores and catalog_categories, the read model of the catalog's stores (region,
brand, time zone) and category tree, for coupon scopes and member days

Revision ID: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007_skips"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_stores",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("region", sa.Text()),
        sa.Column("brand", sa.Text()),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_table(
        "catalog_categories",
        sa.Column("code", sa.Text(), primary_key=True),
        sa.Column("parent", sa.Text()),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalog_categories")
    op.drop_table("catalog_stores")
