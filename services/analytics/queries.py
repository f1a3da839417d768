"""The read side's SQL: sums over the aggregates for one store, a region's stores or the chain. Day
ranges of whole months read the month grains and only their loose edge days the day grains
(domain.split_months), so a year's hour profile or ranking reads months, not 365 days per store."""
from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from contracts.analytics import Where
from service_runtime.db import Tx
from services.analytics import domain
from services.analytics import tables as t

IN_MONTHS = " = ANY(CAST(:months AS date[]))"
_DOW = {"all": "", "weekday": " AND extract(isodow FROM {col}) < 6", "weekend": " AND extract(isodow FROM {col}) >= 6"}
_MONTH_DAYS = {"all": "", "weekday": " AND NOT {col}", "weekend": " AND {col}"}


def _stores(where: Where | Any, alias: str, chain_rows: bool = True) -> tuple[str, dict[str, Any]]:
    """The scope's condition on ``alias``.store: the chain's own rows (every store's in a grain without
    them), one store's, or a region's (the catalog's stores of that region now)."""
    if where.scope == "chain":
        return (f" AND {alias}.store = '{domain.CHAIN}'" if chain_rows else ""), {}
    if where.scope == "store":
        return f" AND {alias}.store = :store", {"store": where.store}
    return f" AND {alias}.store IN (SELECT code FROM stores WHERE region = :region)", {"region": where.region}


def _sums(names: tuple[str, ...], alias: str) -> str:
    return ", ".join(f"sum({alias}.{n}) AS {n}" for n in names)


def day_measures(tx: Tx, where: Where, group: str) -> list[dict[str, Any]]:
    """store_day summed per ``group`` (an SQL expression over d.day: the key of each row)."""
    scope, params = _stores(where, "d")
    sql = (f"SELECT {group} AS key, {_sums(t.DAY_COUNTS + t.DAY_AMOUNTS, 'd')}, bool_or(d.erp_sales <> 0) AS erp "
           f"FROM store_day d WHERE d.day BETWEEN :f AND :l{scope}{_DOW[where.days].format(col='d.day')} "
           "GROUP BY 1 ORDER BY 1")
    return [dict(r._mapping) for r in tx.execute(sa.text(sql), {**params, "f": where.from_day, "l": where.to_day})]


def _months_and_days(where: Where, columns: str, month_table: str, day_table: str) -> tuple[str, dict[str, Any]]:
    """``columns`` of the whole months' rows of ``month_table`` and the loose days' of ``day_table``,
    as one UNION ALL, with its parameters."""
    months, loose = domain.split_months(where.from_day, where.to_day)
    scope, params = _stores(where, "x")
    parts, binds = [], {**params, "months": months}
    if months:
        parts.append(f"SELECT {columns} FROM {month_table} x "
                     f"WHERE x.month{IN_MONTHS}{scope}{_MONTH_DAYS[where.days].format(col='x.weekend')}")
    for i, (first, last) in enumerate(loose):
        binds.update({f"f{i}": first, f"l{i}": last})
        parts.append(f"SELECT {columns} FROM {day_table} x "
                     f"WHERE x.day BETWEEN :f{i} AND :l{i}{scope}{_DOW[where.days].format(col='x.day')}")
    return " UNION ALL ".join(parts), binds


def hour_measures(tx: Tx, where: Where) -> list[dict[str, Any]]:
    """Hourly measures per local hour: whole months from store_month_hour, loose days from store_hour."""
    names = t.HOUR_COUNTS + t.HOUR_AMOUNTS
    rows, binds = _months_and_days(where, "x.hour, " + ", ".join("x." + n for n in names), "store_month_hour",
                                   "store_hour")
    sql = (f"SELECT y.hour AS key, {_sums(names, 'y')}, bool_or(y.erp_sales <> 0) AS erp "
           f"FROM ({rows}) y GROUP BY 1 ORDER BY 1")
    return [dict(r._mapping) for r in tx.execute(sa.text(sql), binds)]


def top_lines(tx: Tx, where: Where, kind: str, limit: int) -> list[dict[str, Any]]:
    """Members' lines per category or SKU, the largest amounts first."""
    rows, binds = _months_and_days(where, f"x.{kind} AS key, x.lines, x.qty, x.amount", f"store_month_{kind}",
                                   f"store_day_{kind}")
    sql = (f"SELECT y.key, sum(y.lines) AS lines, sum(y.qty) AS qty, sum(y.amount) AS amount "
           f"FROM ({rows}) y GROUP BY 1 ORDER BY 4 DESC, 1 LIMIT :limit")
    return [dict(r._mapping) for r in tx.execute(sa.text(sql), {**binds, "limit": limit})]


def coupons(tx: Tx, where: Where, template_id: str | None) -> list[dict[str, Any]]:
    """Per template. Issued coupons have no store: they count in the chain's answer only."""
    scope, params = _stores(where, "c")
    extra = " AND c.template_id = :template" if template_id else ""
    sql = ("SELECT c.template_id, sum(c.issued) AS issued, sum(c.redeemed) AS redeemed, "
           "sum(c.restored) AS restored, sum(c.discount) AS discount FROM coupon_day c "
           f"WHERE c.day BETWEEN :f AND :l{scope}{extra}{_DOW[where.days].format(col='c.day')} "
           "GROUP BY 1 ORDER BY 1")
    return [dict(r._mapping) for r in tx.execute(sa.text(sql), {
        **params, "f": where.from_day, "l": where.to_day, "template": template_id})]


def repeat(tx: Tx, scope: Any, first: date, last: date) -> list[dict[str, Any]]:
    """Buyers and repeat buyers per month: the chain's distinct members, or summed over the stores."""
    if scope.scope == "chain":
        sql = ("SELECT m.month, m.buyers, m.repeat_buyers FROM chain_month m WHERE m.month BETWEEN :f AND :l "
               "ORDER BY 1")
        params: dict[str, Any] = {}
    else:
        cond, params = _stores(scope, "m")
        sql = ("SELECT m.month, sum(m.buyers) AS buyers, sum(m.repeat_buyers) AS repeat_buyers FROM store_month m "
               f"WHERE m.month BETWEEN :f AND :l{cond} GROUP BY 1 ORDER BY 1")
    return [dict(r._mapping) for r in tx.execute(sa.text(sql), {**params, "f": first, "l": last})]


def cohorts(tx: Tx, scope: Any, first: date, last: date) -> tuple[dict[date, int], dict[tuple[date, date], int]]:
    """Cohort sizes and their members buying per month, for cohorts registered in [first, last]."""
    cond, params = _stores(scope, "c", chain_rows=False)
    binds = {**params, "f": first, "l": last}
    sizes = {r.cohort: int(r.n) for r in tx.execute(sa.text(
        f"SELECT c.cohort, sum(c.members) AS n FROM cohorts c WHERE c.cohort BETWEEN :f AND :l{cond} GROUP BY 1"),
        binds)}
    active = {(r.cohort, r.month): int(r.n) for r in tx.execute(sa.text(
        "SELECT c.cohort, c.month, sum(c.members) AS n FROM cohort_activity c "
        f"WHERE c.cohort BETWEEN :f AND :l{cond} GROUP BY 1, 2"), binds)}
    return sizes, active
