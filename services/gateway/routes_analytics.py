"""/v1/analytics: consumption analytics from the analytics service's read model (docs/analytics.md).

Managers, marketers and admins ask; staff bound to stores see their own store only (without a
scope they get their store's figures; another store is a 403 naming `store`). Every route answers
JSON, or CSV with `?format=csv` or `Accept: text/csv`. One RPC each."""
from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from contracts.analytics import CohortReport, CouponReport, RepeatReport, SalesReport, Scope, TopReport
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["analytics"])
READ = allow("manager", "marketer", "admin")
CODE = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$"
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
Days = Literal["all", "weekday", "weekend"]
Format = Literal["json", "csv"]


CSV_NOTE = " As CSV (a header row, then one row per item): ?format=csv or Accept: text/csv."


class CsvResponse(PlainTextResponse):
    media_type = "text/csv"


def as_csv(rows: list[dict[str, Any]]) -> str:
    """One header row of the rows' keys, then the rows; a list (a cohort's months) spreads over
    numbered columns."""
    flat = []
    for row in rows:
        out: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, list):
                out.update({f"{key}_{i}": v for i, v in enumerate(value)})
            else:
                out[key] = value
        flat.append(out)
    header: list[str] = []
    for row in flat:
        header.extend(k for k in row if k not in header)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, restval="")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in flat)
    return buffer.getvalue()


def _wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def _where(caller: Principal, scope: Scope | None, store: str | None, region: str | None) -> dict[str, Any]:
    """A store-bound caller without a scope asks of their own store."""
    if scope is None:
        home = caller.home_store
        scope = "store" if store is not None or home is not None else "chain"
        store = store or home
    return {"scope": scope, "store": store, "region": region}


async def _answer(request: Request, fmt: Format | None, method: str, name: str, **kwargs: Any) -> Any:
    result = await request.app.state.services.call(request, "analytics", method, **kwargs)
    if _wants_csv(request, fmt):
        disposition = f'attachment; filename="{name}.csv"'
        return CsvResponse(as_csv(result["rows"]), headers={"Content-Disposition": disposition})
    return result


def _days(from_day: date, to_day: date, days: Days) -> dict[str, Any]:
    return {"from_day": from_day.isoformat(), "to_day": to_day.isoformat(), "days": days}


ScopeQ = Query(None, description="store, region or chain (default: a store-bound caller's store, else chain)")
StoreQ = Query(None, min_length=1, max_length=64, pattern=CODE, description="scope=store")
RegionQ = Query(None, min_length=1, max_length=64, pattern=CODE, description="scope=region (the catalog's region)")
FromQ = Query(alias="from", description="First local day (YYYY-MM-DD)")
ToQ = Query(alias="to", description="Last local day, inclusive (at most 731 days after from)")
DaysQ = Query("all", description="Only weekdays (Mon-Fri) or weekends")
FormatQ = Query(None, description="csv: the same rows as CSV")


@router.get("/analytics/sales", response_model=SalesReport,
            summary="Sales, points and registrations per day, weekday, day type or hour",
            description="Members' sales (count, amount, average basket, first purchases and returns), all sales "
                        "the ERP reported where it reports, refunds, points issued, redeemed and reversed. "
                        "Days and hours are each store's local ones." + CSV_NOTE)
async def analytics_sales(request: Request, from_day: date = FromQ, to_day: date = ToQ,
                          by: Literal["day", "weekday", "day_type", "hour", "total"] = Query("day"),
                          scope: Scope | None = ScopeQ, store: str | None = StoreQ, region: str | None = RegionQ,
                          days: Days = DaysQ, format: Format | None = FormatQ,
                          caller: Principal = READ) -> Any:
    return await _answer(request, format, "sales", f"sales-{by}", by=by, **_where(caller, scope, store, region),
                         **_days(from_day, to_day, days))


@router.get("/analytics/top", response_model=TopReport,
            summary="Top categories or SKUs among members, by amount",
            description="Members' sale lines (as the till sent them; a line without a category takes the "
                        "catalog's) per category or SKU, the largest amount first." + CSV_NOTE)
async def analytics_top(request: Request, from_day: date = FromQ, to_day: date = ToQ,
                        kind: Literal["category", "sku"] = Query("category"), limit: int = Query(20, ge=1, le=500),
                        scope: Scope | None = ScopeQ, store: str | None = StoreQ, region: str | None = RegionQ,
                        days: Days = DaysQ, format: Format | None = FormatQ, caller: Principal = READ) -> Any:
    return await _answer(request, format, "top", f"top-{kind}", kind=kind, limit=limit,
                         **_where(caller, scope, store, region), **_days(from_day, to_day, days))


@router.get("/analytics/coupons", response_model=CouponReport,
            summary="Coupon redemption by template",
            description="Issued (chain-wide: issuing has no store, so a store's answer shows 0), redeemed, "
                        "restored by refunds, net discount and the redemption rate." + CSV_NOTE)
async def analytics_coupons(request: Request, from_day: date = FromQ, to_day: date = ToQ,
                            template_id: str | None = Query(None, max_length=36),
                            scope: Scope | None = ScopeQ, store: str | None = StoreQ, region: str | None = RegionQ,
                            days: Days = DaysQ, format: Format | None = FormatQ, caller: Principal = READ) -> Any:
    return await _answer(request, format, "coupons", "coupons", template_id=template_id,
                         **_where(caller, scope, store, region), **_days(from_day, to_day, days))


@router.get("/analytics/repeat", response_model=RepeatReport,
            summary="Buyers and repeat buyers per month",
            description="Members buying in the month and those buying twice or more: the chain's distinct "
                        "members; a store's own; a region's summed over its stores." + CSV_NOTE)
async def analytics_repeat(request: Request, from_month: str = Query(alias="from", pattern=MONTH),
                           to_month: str = Query(alias="to", pattern=MONTH),
                           scope: Scope | None = ScopeQ, store: str | None = StoreQ, region: str | None = RegionQ,
                           format: Format | None = FormatQ, caller: Principal = READ) -> Any:
    return await _answer(request, format, "repeat", "repeat", from_month=from_month, to_month=to_month,
                         **_where(caller, scope, store, region))


@router.get("/analytics/cohorts", response_model=CohortReport,
            summary="Cohort retention by registration month",
            description="Members registered per month (at the scope's stores) and how many of them bought "
                        "anywhere in each month since, up to this one." + CSV_NOTE)
async def analytics_cohorts(request: Request, from_month: str = Query(alias="from", pattern=MONTH),
                            to_month: str = Query(alias="to", pattern=MONTH),
                            scope: Scope | None = ScopeQ, store: str | None = StoreQ, region: str | None = RegionQ,
                            format: Format | None = FormatQ, caller: Principal = READ) -> Any:
    return await _answer(request, format, "cohorts", "cohorts", from_month=from_month, to_month=to_month,
                         **_where(caller, scope, store, region))
