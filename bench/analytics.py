"""Benchmark of the analytics read model: its main queries over a year of a 1,000-store chain, and how
fast events fold into it.

    make bench-analytics [SCALE=small]      (python -m bench.analytics)

Creates its own analytics database (prefix loyalty_bench_analytics_), migrates it, and loads a year of
aggregates in SQL (generate_series, set-based INSERT ... SELECT: what a year of events would leave,
not the events themselves): store_day and store_hour (14 open hours) per store and day, the month
grains, 8 categories and 10 SKUs (of 400) per store and day, coupon rows, buyers per month. Then it runs each
main query QUERIES times through the same use cases the RPCs call (reports.*; the RPC hop adds about
2 ms, docs/analytics.md) and folds INGEST points.accrued sales with lines (new and returning
members, 200 stores) through ingest.accruals in batches of 500, as the service's batch handler does.

SCALE=medium (the default): 1,000 stores x 365 days; small: 100 stores; large: 2,000 stores.

Figures (each its own BENCH line):
    analytics_<query>_p95_ms      p95 of QUERIES runs of one query (store_day: one store's year by day;
                                  chain_day: the chain's year by day; region_weekday; chain_hour: the
                                  year's hour profile; chain_top_sku; store_top_category; coupons;
                                  repeat; cohorts)
    analytics_store_day_query_ms  p99 of the store_day query (the issue's figure)
    analytics_ingest_events_per_s points.accrued sales folded per second
    analytics_load_s              the bulk load, for context
"""
from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from bench.platform import bench, percentile

SCALES = {"small": 100, "medium": 1000, "large": 2000}
QUERIES = 100
INGEST = 20_000
FIRST = date(2025, 12, 1)
DAYS = 365

# one statement per table; :stores stores, days from :first, a store's region is its number mod 20
LOAD = {
    "stores": "INSERT INTO stores (code, region, brand, time_zone, version) SELECT 'S' || lpad(s::text, 4, '0'), "
              "'R' || (s % 20), 'B' || (s % 3), 'Asia/Shanghai', 1 FROM generate_series(1, :stores) s",
    "store_day": "INSERT INTO store_day SELECT st.code, d, 40 + (h % 50), 3 + (h % 5), 37 + (h % 45), 2 + (h % 4), "
                 "h % 3, 90 + (h % 90), 4000 + (h % 900), 700 + (h % 300), h % 50, "
                 "(5000 + (h % 900))::numeric / 1, (h % 300)::numeric, (11000 + (h % 4000))::numeric "
                 "FROM stores st, generate_series(CAST(:first AS date), CAST(:first AS date) + :days - 1, '1 day') d, "
                 "LATERAL (SELECT abs(hashtext(st.code || d::text)) AS h) x",
    "store_hour": "INSERT INTO store_hour SELECT st.code, d, hr, 3 + (hr % 4), 7 + (hr % 5), 300 + hr, 50 + hr, "
                  "(300 + hr)::numeric, (800 + hr)::numeric FROM stores st, "
                  "generate_series(CAST(:first AS date), CAST(:first AS date) + :days - 1, '1 day') d, "
                  "generate_series(8, 21) hr",
    "store_month_hour": "INSERT INTO store_month_hour SELECT store, date_trunc('month', day)::date, "
                        "extract(isodow FROM day) >= 6, hour, sum(member_sales), sum(erp_sales), sum(points_issued), "
                        "sum(points_redeemed), sum(member_amount), sum(erp_amount) FROM store_hour GROUP BY 1, 2, 3, 4",
    "store_day_category": "INSERT INTO store_day_category SELECT st.code, d, 'C' || c, 5 + c, 9 + c, 200 + c * 10 "
                          "FROM stores st, generate_series(CAST(:first AS date), CAST(:first AS date) + :days - 1, "
                          "'1 day') d, generate_series(1, 8) c",
    "store_month_category": "INSERT INTO store_month_category SELECT store, date_trunc('month', day)::date, "
                            "extract(isodow FROM day) >= 6, category, sum(lines), sum(qty), sum(amount) "
                            "FROM store_day_category GROUP BY 1, 2, 3, 4",
    "store_day_sku": "INSERT INTO store_day_sku SELECT st.code, d, 'SKU' || ((abs(hashtext(st.code)) + k) % 400), "
                     "1 + k % 3, 2 + k % 3, 20 + k FROM stores st, generate_series(CAST(:first AS date), "
                     "CAST(:first AS date) + :days - 1, '1 day') d, generate_series(1, 10) k",
    "store_month_sku": "INSERT INTO store_month_sku SELECT store, date_trunc('month', day)::date, "
                       "extract(isodow FROM day) >= 6, sku, sum(lines), sum(qty), sum(amount) "
                       "FROM store_day_sku GROUP BY 1, 2, 3, 4",
    "coupon_day": "INSERT INTO coupon_day SELECT 'T' || t, st.code, d, 0, 2 + t, t % 2, (20 * (2 + t))::numeric "
                  "FROM stores st, generate_series(CAST(:first AS date), CAST(:first AS date) + :days - 1, '1 day') d, "
                  "generate_series(1, 5) t",
    "store_month": "INSERT INTO store_month SELECT store, date_trunc('month', day)::date, sum(member_sales) / 2, "
                   "sum(member_sales) / 6 FROM store_day WHERE store <> '*' GROUP BY 1, 2",
    "chain_month": "INSERT INTO chain_month SELECT month, sum(buyers), sum(repeat_buyers) FROM store_month GROUP BY 1",
    "cohorts": "INSERT INTO cohorts SELECT store, month, buyers / 10 FROM store_month",
    "cohort_activity": "INSERT INTO cohort_activity SELECT c.store, c.cohort, m.month, c.members / (2 + "
                       "(m.month - c.cohort) / 30) FROM cohorts c JOIN store_month m ON m.store = c.store "
                       "AND m.month >= c.cohort",
}


def chain_rows(name: str) -> str:
    """The chain's rows (store '*') of a store grain, as the fold writes them beside each store's."""
    from services.analytics.tables import metadata

    table = metadata.tables[name]
    keys = [c.name for c in table.primary_key.columns if c.name != "store"]
    sums = [f"sum({c.name})" for c in table.columns if not c.primary_key]
    first = "template_id, '*'" if name == "coupon_day" else "'*'"
    keys = [k for k in keys if k != "template_id"] if name == "coupon_day" else keys
    group = (["template_id"] if name == "coupon_day" else []) + keys
    return (f"INSERT INTO {name} SELECT {first}, {', '.join(keys)}, {', '.join(sums)} FROM {name} "
            f"WHERE store <> '*' GROUP BY {', '.join(group)}")


CHAIN_AFTER = {"store_hour": ("store_day", "store_hour"), "store_day_category": ("store_day_category",),
               "store_day_sku": ("store_day_sku",), "coupon_day": ("coupon_day",)}


def load(engine: sa.Engine, stores: int) -> None:
    params = {"stores": stores, "first": FIRST, "days": DAYS}
    for name, sql in LOAD.items():
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
            for grain in CHAIN_AFTER.get(name, ()):  # the month grains are derived after, '*' included
                conn.execute(sa.text(chain_rows(grain)))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))


def _time(engine: sa.Engine, name: str, run: Callable[[Any], object]) -> list[float]:
    from service_runtime.db import Tx

    took = []
    for _ in range(QUERIES):
        started = time.perf_counter()
        with engine.begin() as conn:
            run(Tx(conn, "analytics"))
        took.append((time.perf_counter() - started) * 1000)
    bench(f"analytics_{name}_p95_ms", percentile(took, 0.95), "ms")
    return took


def queries(engine: sa.Engine, stores: int) -> None:
    from contracts.access import service
    from contracts.analytics import CouponQuery, MonthQuery, SalesQuery, TopQuery
    from services.analytics import reports

    me = service("bench")
    year = {"from_day": FIRST, "to_day": FIRST + timedelta(days=DAYS - 1)}
    rnd = random.Random(7)

    def store() -> str:
        return f"S{rnd.randint(1, stores):04d}"

    took = _time(engine, "store_day", lambda tx: reports.sales(
        tx, me, SalesQuery(scope="store", store=store(), by="day", **year)))
    bench("analytics_store_day_query_ms", percentile(took, 0.99), "ms")
    _time(engine, "chain_day", lambda tx: reports.sales(tx, me, SalesQuery(by="day", **year)))
    _time(engine, "region_weekday", lambda tx: reports.sales(
        tx, me, SalesQuery(scope="region", region=f"R{rnd.randint(0, 19)}", by="weekday", **year)))
    _time(engine, "chain_hour", lambda tx: reports.sales(tx, me, SalesQuery(by="hour", **year)))
    _time(engine, "store_hour_weekend", lambda tx: reports.sales(
        tx, me, SalesQuery(scope="store", store=store(), by="hour", days="weekend", **year)))
    _time(engine, "chain_top_sku", lambda tx: reports.top(tx, me, TopQuery(kind="sku", limit=20, **year)))
    _time(engine, "store_top_category", lambda tx: reports.top(
        tx, me, TopQuery(scope="store", store=store(), kind="category", **year)))
    _time(engine, "chain_coupons", lambda tx: reports.coupons(tx, me, CouponQuery(**year)))
    months = {"from_month": FIRST.strftime("%Y-%m"), "to_month": "2026-11"}
    _time(engine, "chain_repeat", lambda tx: reports.repeat(tx, me, MonthQuery(**months)))
    _time(engine, "chain_cohorts", lambda tx: reports.cohorts(tx, me, MonthQuery(**months), date(2026, 12, 5)))


def ingest_rate(engine: sa.Engine) -> None:
    from contracts.events import PointsAccrued, SoldLine
    from service_runtime.db import Tx
    from services.analytics import ingest

    rnd = random.Random(11)
    members = [str(uuid.uuid4()) for _ in range(INGEST // 3)]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = [PointsAccrued(
        member_id=rnd.choice(members), store=f"S{rnd.randint(1, 200):04d}", source="sale", reference=f"B-{i}",
        points=100, amount=Decimal("100.50"), occurred_at=start + timedelta(seconds=rnd.randint(0, 30 * 86400)),
        balance=0, lines=[SoldLine(sku=f"SKU{rnd.randint(1, 400)}", category=f"C{rnd.randint(1, 8)}",
                                   qty=Decimal(1), amount=Decimal("50.25")) for _ in range(2)])
        for i in range(INGEST)]
    started = time.perf_counter()
    for i in range(0, len(events), 500):
        with engine.begin() as conn:
            ingest.accruals(Tx(conn, "analytics"), events[i:i + 500])
    bench("analytics_ingest_events_per_s", len(events) / (time.perf_counter() - started), "events/s")


def main() -> None:
    stores = SCALES.get(os.environ.get("SCALE", "medium"), SCALES["medium"])
    tag = "".join(ch for ch in os.environ.get("LOYALTY_TEST_TAG", "") if ch.isalnum())
    os.environ["DB_NAME_PREFIX"] = f"loyalty_bench_analytics_{tag}_" if tag else "loyalty_bench_analytics_"
    from service_runtime import bootstrap, migrate
    from service_runtime import config as cfg

    url = cfg.database_url("analytics")
    bootstrap.ensure_database(url, drop=True)
    migrate.upgrade("analytics", url)
    engine = sa.create_engine(url, pool_size=2)
    try:
        started = time.perf_counter()
        load(engine, stores)
        bench("analytics_load_s", time.perf_counter() - started, "s")
        with engine.connect() as conn:
            sizes = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                     for t in ("store_day", "store_hour", "store_month_hour", "store_day_sku", "store_month_sku")}
        print(f"# {stores} stores x {DAYS} days; rows {sizes}; {os.cpu_count()} cores", flush=True)
        queries(engine, stores)
        ingest_rate(engine)
    finally:
        engine.dispose()
        bootstrap.drop_database(url)


if __name__ == "__main__":
    main()
