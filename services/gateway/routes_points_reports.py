"""Points reports (liability, daily, settlement) and jobs."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from contracts.points import (
    DailyReport,
    JobResult,
    LiabilityRow,
    SettlementRow,
)
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, page_params
from services.gateway.routes_points_common import (
    JOB_TIMEOUT,
    REPORT_TIMEOUT,
    call_points,
    paged,
)
from services.gateway.security.policy import allow, require_store
from services.gateway.security.principal import Principal
from services.gateway.validation import iso, query_time

router = APIRouter(tags=["points"])


# ---- reports and jobs ------------------------------------------------------------------------------------
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)  # days that have a start and an end in any zone
MAX_REPORT_DAYS = 366


def _days(day_from: date, day_to: date) -> dict[str, str]:
    if not FIRST_DAY <= day_from <= LAST_DAY:
        raise ApiError(422, "invalid_input", f"between {FIRST_DAY} and {LAST_DAY}", field="from")
    if day_to < day_from:
        raise ApiError(422, "invalid_input", "must not be before from", field="to")
    if (day_to - day_from).days > MAX_REPORT_DAYS:
        raise ApiError(422, "invalid_input", f"at most {MAX_REPORT_DAYS} days after from", field="to")
    return {"day_from": day_from.isoformat(), "day_to": day_to.isoformat()}


@router.get("/points/reports/liability", response_model=Page[LiabilityRow],
            summary="Outstanding points and their value, per issuing store and day",
            description="`from` and `to` are days (inclusive), at most 366 days apart. Store-bound callers must "
                        "name one of their stores. Rows with `bucket` \"chain\" (and `store` null) are points no "
                        "store issued: members' own check-ins and shares, activities and adjustments booked to "
                        "no store; the chain carries them.")
async def liability_report(request: Request, day_from: date = Query(alias="from"), day_to: date = Query(alias="to"),
                           store: str | None = Query(None, min_length=1, max_length=64),
                           paging: PageParams = Depends(page_params),
                           caller: Principal = allow("admin", "auditor", "manager")) -> dict[str, Any]:
    days = _days(day_from, day_to)
    if caller.stores is not None:
        if store is None:
            raise ApiError(422, "invalid_input", "name one of your stores", field="store")
        await require_store(request, caller, store)
    return paged(await call_points(request, "liability", timeout=REPORT_TIMEOUT, store=store, **days), paging)


@router.get("/points/reports/daily", response_model=DailyReport,
            summary="A store's day: member sales, members' share, points issued, redeemed, expired and reversed",
            description="`day` in the store's time zone. Points sees member sales only: give the store's "
                        "takings as `total_sales` (from the POS or the ERP) for `members_share`. Store-bound "
                        "callers for their stores.")
async def daily_report(request: Request, day: date, store: str = Query(min_length=1, max_length=64),
                       total_sales: str | None = Query(None, max_length=20, description="e.g. \"125000.00\""),
                       caller: Principal = allow("admin", "auditor", "manager")) -> dict[str, Any]:
    _days(day, day)
    await require_store(request, caller, store)
    result: dict[str, Any] = await call_points(request, "daily_report", timeout=REPORT_TIMEOUT, store=store,
                                           day=day.isoformat(), total_sales=total_sales)
    return result


@router.get("/points/reports/settlement", response_model=Page[SettlementRow],
            summary="Points earned in one store and spent in another, for settlement between stores",
            description="`from` and `to` are days (inclusive), at most 366 days apart. Store-bound callers see "
                        "the rows where one of their stores earned or spent.")
async def settlement_report(request: Request, day_from: date = Query(alias="from"), day_to: date = Query(alias="to"),
                            paging: PageParams = Depends(page_params),
                            caller: Principal = allow("admin", "auditor", "manager")) -> dict[str, Any]:
    rows: list[dict[str, Any]] = await call_points(request, "settlement", timeout=REPORT_TIMEOUT,
                                               **_days(day_from, day_to))
    if caller.stores is not None:
        rows = [r for r in rows if r.get("earned_store") in caller.stores or r.get("spent_store") in caller.stores]
    return paged(rows, paging)


@router.post("/points/jobs/{name}", response_model=JobResult, summary="Run a points job now (audited)",
             description="expiry: expire due lots; reminders: announce points expiring soon; tiers: evaluate "
                         "downgrades; holds: release expired holds. `at` runs it as of another time.")
async def run_job(name: Literal["expiry", "reminders", "tiers", "holds"], request: Request,
                  at: datetime | None = Query(None, description="Default: now"),
                  caller: Principal = allow("admin")) -> dict[str, Any]:
    when = iso(query_time(at, "at"))
    result: dict[str, Any] = await call_points(request, "run_job", timeout=JOB_TIMEOUT, name=name, at=when)
    await request.app.state.auditor.record(request, "points.job_run", "ok", object_type="points_job", object_id=name,
                                           details={"at": when, "processed": result["processed"],
                                                    "events": result["events"]})
    request.state.audited = True
    return result
