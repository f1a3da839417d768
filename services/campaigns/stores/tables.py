"""Campaigns' read model of the catalog's stores and category tree (fed by store.changed and
category.changed): coupons scoped by region, brand or a category's subtree, and member days in
each store's time zone."""
import sqlalchemy as sa

from services.campaigns.meta import metadata

catalog_stores = sa.Table(
    "catalog_stores",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("region", sa.Text),
    sa.Column("brand", sa.Text),
    sa.Column("time_zone", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

catalog_categories = sa.Table(
    "catalog_categories",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("parent", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)
