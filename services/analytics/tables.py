"""The analytics service's tables (its own database): a read model fed by events, pre-aggregated per
store and local day (and hour, category, SKU; and per month), so a year of a 1,000-store chain is
answered from a few hundred thousand rows (docs/decisions/0025-analytics-pre-aggregation.md).

Store '' stands for "no store" (points of activities, coupons issued online): counted in the chain's
figures, in no store's or region's. Store '*' rows are the chain's own, written beside each store's
in the store-grain tables, so a chain answer reads one row per day (or month) instead of 1,000."""
from decimal import Decimal

import sqlalchemy as sa

from service_runtime.tables import runtime_metadata

metadata = runtime_metadata()
MONEY = sa.Numeric(18, 2)
QTY = sa.Numeric(18, 3)


def _counts(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(n, sa.BigInteger, nullable=False, server_default="0") for n in names]


def _amounts(*names: str) -> list[sa.Column[Decimal]]:
    return [sa.Column(n, MONEY, nullable=False, server_default="0") for n in names]


# the measures of a store's day; the hour tables keep the subset HOUR_MEASURES
DAY_COUNTS = ("member_sales", "new_buyer_sales", "returning_sales", "registrations", "refunds", "erp_sales",
              "points_issued", "points_redeemed", "points_reversed")
DAY_AMOUNTS = ("member_amount", "refund_amount", "erp_amount")
HOUR_COUNTS = ("member_sales", "erp_sales", "points_issued", "points_redeemed")
HOUR_AMOUNTS = ("member_amount", "erp_amount")

# ---- read models of other services' records -------------------------------------------------------
stores = sa.Table(
    "stores", metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("brand", sa.Text, nullable=True),
    sa.Column("time_zone", sa.Text, nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Index("stores_region", "region"),
)

products = sa.Table(  # a line sent without its category takes the catalog's
    "products", metadata,
    sa.Column("sku", sa.Text, primary_key=True),
    sa.Column("category", sa.Text, nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False),
)

members = sa.Table(  # cohort by registration month and store; purchases so far (first purchase or a return)
    "members", metadata,
    sa.Column("member_id", sa.Text, primary_key=True),
    sa.Column("cohort", sa.Date, nullable=True),  # first day of the registration month; NULL: not seen registering
    sa.Column("store", sa.Text, nullable=False, server_default=""),  # registration store
    sa.Column("purchases", sa.BigInteger, nullable=False, server_default="0"),
)

member_months = sa.Table(  # purchases per member and month, chain-wide: buyers and repeat buyers of the chain
    "member_months", metadata,
    sa.Column("member_id", sa.Text, primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("sales", sa.Integer, nullable=False),
)

member_store_months = sa.Table(  # the same per store
    "member_store_months", metadata,
    sa.Column("member_id", sa.Text, primary_key=True),
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("sales", sa.Integer, nullable=False),
)

erp_sales = sa.Table(  # the last version of each ERP sale counted: a new version moves its figures
    "erp_sales", metadata,
    sa.Column("connection", sa.Text, primary_key=True),
    sa.Column("transaction_id", sa.Text, primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("store", sa.Text, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("hour", sa.SmallInteger, nullable=False),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
)

# ---- aggregates -------------------------------------------------------------------------------------
store_day = sa.Table(
    "store_day", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    *_counts(*DAY_COUNTS), *_amounts(*DAY_AMOUNTS),
    sa.Index("store_day_day", "day"),
)

store_hour = sa.Table(
    "store_hour", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("hour", sa.SmallInteger, primary_key=True),
    *_counts(*HOUR_COUNTS), *_amounts(*HOUR_AMOUNTS),
    sa.Index("store_hour_day", "day"),
)

store_month_hour = sa.Table(  # hours of whole months (weekdays and weekends apart): a year's hour profile
    "store_month_hour", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("weekend", sa.Boolean, primary_key=True),
    sa.Column("hour", sa.SmallInteger, primary_key=True),
    *_counts(*HOUR_COUNTS), *_amounts(*HOUR_AMOUNTS),
    sa.Index("store_month_hour_month", "month"),
)


def _lines_table(name: str, period: str, key: str) -> sa.Table:
    """Members' sale lines per store, period (day or month) and category or SKU."""
    return sa.Table(
        name, metadata,
        sa.Column("store", sa.Text, primary_key=True),
        sa.Column(period, sa.Date, primary_key=True),
        *([sa.Column("weekend", sa.Boolean, primary_key=True)] if period == "month" else []),
        sa.Column(key, sa.Text, primary_key=True),
        sa.Column("lines", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("qty", QTY, nullable=False, server_default="0"),
        sa.Column("amount", MONEY, nullable=False, server_default="0"),
        sa.Index(f"{name}_{period}", period),
    )


store_day_category = _lines_table("store_day_category", "day", "category")
store_month_category = _lines_table("store_month_category", "month", "category")
store_day_sku = _lines_table("store_day_sku", "day", "sku")
store_month_sku = _lines_table("store_month_sku", "month", "sku")

store_month = sa.Table(  # distinct buyers of a store's month (not a sum of days)
    "store_month", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    *_counts("buyers", "repeat_buyers"),
)

chain_month = sa.Table(  # distinct buyers of the chain's month (a member buying at two stores counts once)
    "chain_month", metadata,
    sa.Column("month", sa.Date, primary_key=True),
    *_counts("buyers", "repeat_buyers"),
)

cohorts = sa.Table(  # members registered per registration store and month
    "cohorts", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("cohort", sa.Date, primary_key=True),
    *_counts("members"),
)

cohort_activity = sa.Table(  # of them, members buying (anywhere) in each month
    "cohort_activity", metadata,
    sa.Column("store", sa.Text, primary_key=True),
    sa.Column("cohort", sa.Date, primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    *_counts("members"),
)

coupon_day = sa.Table(
    "coupon_day", metadata,
    sa.Column("template_id", sa.Text, primary_key=True),
    sa.Column("store", sa.Text, primary_key=True),  # '' for issued coupons: issuing has no store
    sa.Column("day", sa.Date, primary_key=True),
    *_counts("issued", "redeemed", "restored"), *_amounts("discount"),
    sa.Index("coupon_day_store", "store", "day"),  # a scope's days (the PK leads with the template)
)
