"""The only code that writes the analytics service's tables: read models of stores, products and
members, and the aggregates (each batch's deltas in one multi-row upsert per table)."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from service_runtime.bulk import insert_rows
from service_runtime.db import Tx
from service_runtime.read_models import save_newer
from services.analytics import domain
from services.analytics import tables as t


def save_store(tx: Tx, code: str, region: str | None, brand: str | None, time_zone: str | None,
               version: int) -> None:
    save_newer(tx, t.stores, "code", {"code": code, "region": region, "brand": brand, "time_zone": time_zone,
                                      "version": version})


def save_product(tx: Tx, sku: str, category: str | None, version: int) -> None:
    save_newer(tx, t.products, "sku", {"sku": sku, "category": category, "version": version})


def zones(tx: Tx, codes: Sequence[str]) -> dict[str, str]:
    """The time zone the catalog gives each of these stores (stores it has not told us of are absent)."""
    rows = tx.execute(sa.select(t.stores.c.code, t.stores.c.time_zone)
                      .where(t.stores.c.code.in_(sorted(set(codes))), t.stores.c.time_zone.is_not(None)))
    return {code: zone for code, zone in rows}


def categories(tx: Tx, skus: Sequence[str]) -> dict[str, str]:
    rows = tx.execute(sa.select(t.products.c.sku, t.products.c.category)
                      .where(t.products.c.sku.in_(sorted(set(skus))), t.products.c.category.is_not(None)))
    return {sku: category for sku, category in rows}


def register(tx: Tx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Members seen registering (member_id, cohort, store); answers those new to the cohorts (a member
    whose purchase arrived first has a row without a cohort, which this fills; a second registration
    of the same member, as an import after a sign-up, changes nothing)."""
    known = known_cohorts(tx, [r["member_id"] for r in rows])
    fresh = list({r["member_id"]: r for r in rows if r["member_id"] not in known}.values())
    insert_rows(tx, t.members, sorted(fresh, key=lambda r: r["member_id"]),
                upsert=(["member_id"], {"cohort": "EXCLUDED.cohort", "store": "EXCLUDED.store"}))
    return fresh


def known_cohorts(tx: Tx, member_ids: Sequence[str]) -> set[str]:
    rows = tx.execute(sa.select(t.members.c.member_id).where(t.members.c.member_id.in_(sorted(set(member_ids))),
                                                            t.members.c.cohort.is_not(None)))
    return {r for (r,) in rows}


def forget_member(tx: Tx, member_id: str) -> None:
    """An erased member's rows go; the counts they added to stay (they name nobody)."""
    for table in (t.members, t.member_months, t.member_store_months):
        tx.execute(sa.delete(table).where(table.c.member_id == member_id))


def add_purchases(tx: Tx, added: dict[str, int]) -> dict[str, tuple[int, date | None, str]]:
    """Add purchases to members; member -> (purchases now, cohort, registration store)."""
    if not added:
        return {}
    rows = insert_rows(tx, t.members, [{"member_id": m, "purchases": n} for m, n in sorted(added.items())],
                       returning=[t.members.c.member_id, t.members.c.purchases, t.members.c.cohort, t.members.c.store],
                       upsert=(["member_id"], {"purchases": "members.purchases + EXCLUDED.purchases"}))
    return {r.member_id: (int(r.purchases), r.cohort, r.store) for r in rows}


def add_month_sales(tx: Tx, table: sa.Table, keys: tuple[str, ...], added: dict[tuple[Any, ...], int]
                    ) -> dict[tuple[Any, ...], int]:
    """Add sales to member_months or member_store_months; key -> sales now."""
    if not added:
        return {}
    rows = [{**dict(zip(keys, key, strict=True)), "sales": n} for key, n in sorted(added.items())]
    found = insert_rows(tx, table, rows, returning=[*(table.c[k] for k in keys), table.c.sales],
                        upsert=(list(keys), {"sales": f"{table.name}.sales + EXCLUDED.sales"}))
    return {tuple(r[:-1]): int(r[-1]) for r in found}


def erp_previous(tx: Tx, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    if not keys:
        return {}
    rows = tx.execute(sa.text(
        "SELECT e.* FROM erp_sales e JOIN unnest(CAST(:c AS text[]), CAST(:t AS text[])) AS k(c, t) "
        "ON e.connection = k.c AND e.transaction_id = k.t"), {"c": [c for c, _ in keys], "t": [x for _, x in keys]})
    return {(r.connection, r.transaction_id): r for r in rows}


def save_erp_sales(tx: Tx, rows: list[dict[str, Any]]) -> None:
    insert_rows(tx, t.erp_sales, sorted(rows, key=lambda r: (r["connection"], r["transaction_id"])),
                upsert=(["connection", "transaction_id"], {c: f"EXCLUDED.{c}" for c in
                                                            ("version", "store", "day", "hour", "amount_cents")}))


def _add(tx: Tx, table: sa.Table, keys: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    if rows:
        measures = [c.name for c in table.columns if c.name not in keys]
        insert_rows(tx, table, rows, upsert=(list(keys), {m: f'"{table.name}"."{m}" + EXCLUDED."{m}"'
                                                          for m in measures}))


def apply(tx: Tx, deltas: domain.Deltas) -> None:
    """Every aggregate a batch touched, one statement per table."""
    _add(tx, t.store_day, ("store", "day"),
         domain.full_rows(deltas.day, ("store", "day"), t.DAY_COUNTS, t.DAY_AMOUNTS))
    _add(tx, t.store_hour, ("store", "day", "hour"),
         domain.full_rows(deltas.hour, ("store", "day", "hour"), t.HOUR_COUNTS, t.HOUR_AMOUNTS))
    _add(tx, t.store_month_hour, ("store", "month", "weekend", "hour"),
         domain.full_rows(deltas.month_hour, ("store", "month", "weekend", "hour"), t.HOUR_COUNTS, t.HOUR_AMOUNTS))
    for name, lines in sorted(deltas.lines.items()):
        table = t.metadata.tables[name]
        keys = tuple(c.name for c in table.primary_key.columns)
        rows = [{**dict(zip(keys, key, strict=True)), "lines": n, "qty": qty, "amount": amount}
                for key, (n, qty, amount) in sorted(lines.items())]
        _add(tx, table, keys, rows)
    for grain, table in (("store_month", t.store_month), ("chain_month", t.chain_month), ("cohorts", t.cohorts),
                         ("cohort_activity", t.cohort_activity), ("coupons", t.coupon_day)):
        keys = tuple(c.name for c in table.primary_key.columns)
        counts = [c.name for c in table.columns if c.name not in keys and c.name != "discount"]
        amounts = ["discount"] if "discount" in table.c else []
        _add(tx, table, keys, domain.full_rows(getattr(deltas, grain), keys, counts, amounts))
