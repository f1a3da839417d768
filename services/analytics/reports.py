"""The questions the analytics routes ask: sales per day, weekday, day type or hour; repeat buyers per
month; top categories and SKUs among members; coupon redemption by template; cohort retention.

Managers, marketers and admins ask; a store-bound caller only of their own store (scope=store)."""
from __future__ import annotations

from datetime import date
from typing import Any

from contracts.access import Caller, require, require_store
from contracts.analytics import MAX_DAYS, CouponQuery, MonthQuery, SalesQuery, TopQuery, Where
from contracts.errors import Forbidden, InvalidInput
from service_runtime.db import Tx
from services.analytics import domain, queries

READERS = frozenset({"manager", "marketer", "admin"})
_GROUPS = {"day": "d.day", "weekday": "extract(isodow FROM d.day)::int",
           "day_type": "CASE WHEN extract(isodow FROM d.day) >= 6 THEN 'weekend' ELSE 'weekday' END",
           "total": "'total'"}


def check(caller: Caller, query: Where | MonthQuery) -> None:
    """Who may ask this: a reader; a store-bound one only of one of their stores."""
    require(caller, READERS, field="scope")
    if query.scope == "store" and query.store is None:
        raise InvalidInput("scope=store needs a store", "store")
    if query.scope == "region" and query.region is None:
        raise InvalidInput("scope=region needs a region", "region")
    if isinstance(query, Where) and query.to_day < query.from_day:
        raise InvalidInput("before from_day", "to_day")
    if isinstance(query, Where) and (query.to_day - query.from_day).days >= MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days after from_day", "to_day")
    if caller.stores is not None and not caller.is_service:
        if query.scope != "store":
            raise Forbidden("a store's staff see their own store only: scope=store", "scope")
        require_store(caller, query.store)


def sales(tx: Tx, caller: Caller, query: SalesQuery) -> dict[str, Any]:
    check(caller, query)
    if query.by == "hour":
        sums = queries.hour_measures(tx, query)
    else:
        sums = queries.day_measures(tx, query, _GROUPS[query.by])
    rows = [domain.sales_row(str(s["key"]), s, bool(s["erp"])) for s in sums]
    return {"where": query.model_dump(mode="json", exclude={"by"}), "by": query.by, "rows": rows}


def top(tx: Tx, caller: Caller, query: TopQuery) -> list[dict[str, Any]]:
    check(caller, query)
    return [{"key": r["key"], "lines": int(r["lines"]), "qty": str(r["qty"]), "amount": domain.money(r["amount"])}
            for r in queries.top_lines(tx, query, query.kind, query.limit)]


def coupons(tx: Tx, caller: Caller, query: CouponQuery) -> list[dict[str, Any]]:
    check(caller, query)
    return [{"template_id": r["template_id"], "issued": int(r["issued"]), "redeemed": int(r["redeemed"]),
             "restored": int(r["restored"]), "discount": domain.money(r["discount"]),
             "redemption_rate": domain.ratio(int(r["redeemed"]) - int(r["restored"]), int(r["issued"]))}
            for r in queries.coupons(tx, query, query.template_id)]


def _months(query: MonthQuery) -> tuple[date, date]:
    return _month(query.from_month, "from_month"), _month(query.to_month, "to_month")


def _month(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value + "-01")
    except ValueError:  # a well-formed YYYY-MM that is no month (year 0000, month 13)
        raise InvalidInput("not a month (YYYY-MM)", field) from None


def repeat(tx: Tx, caller: Caller, query: MonthQuery) -> list[dict[str, Any]]:
    check(caller, query)
    first, last = _months(query)
    if last < first:
        raise InvalidInput("before from_month", "to_month")
    return [{"month": r["month"].strftime("%Y-%m"), "buyers": int(r["buyers"]),
             "repeat_buyers": int(r["repeat_buyers"]),
             "repeat_rate": domain.ratio(int(r["repeat_buyers"]), int(r["buyers"]))}
            for r in queries.repeat(tx, query, first, last)]


def cohorts(tx: Tx, caller: Caller, query: MonthQuery, today: date) -> list[dict[str, Any]]:
    """Cohorts registered from from_month to to_month, each followed up to this month."""
    check(caller, query)
    first, last = _months(query)
    if last < first:
        raise InvalidInput("before from_month", "to_month")
    sizes, active = queries.cohorts(tx, query, first, last)
    return domain.retention_rows(sizes, active, today)
