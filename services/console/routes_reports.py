"""Reports: points liability per issuing store and day, a store's day, cross-store settlement; charts
on the page (one API page at a time, by its cursor) and CSV downloads (every page, walked here)."""
from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from services.console.charts import bars
from services.console.i18n import translate
from services.console.web import api_error_page, call, page_link, render, require

router = APIRouter()
COLUMNS = {"liability": ("day", "store", "bucket", "points", "value"),
           "settlement": ("earned_store", "spent_store", "points", "value")}


def _period(request: Request) -> dict[str, str]:
    today = date.today()
    return {"from": request.query_params.get("from") or (today - timedelta(days=30)).isoformat(),
            "to": request.query_params.get("to") or today.isoformat(),
            "store": request.query_params.get("store", "").strip()}


@router.get("/reports")
async def reports(request: Request, cursor: str | None = None, scursor: str | None = None) -> Response:
    current = require(request, "staff")
    period = _period(request)
    day = request.query_params.get("day") or period["to"]
    liability, settlement, daily = await asyncio.gather(
        call(request, "GET", "/v1/points/reports/liability", params={**period, "cursor": cursor, "limit": 100}),
        call(request, "GET", "/v1/points/reports/settlement", params={"from": period["from"], "to": period["to"],
                                                                      "cursor": scursor, "limit": 100}),
        call(request, "GET", "/v1/points/reports/daily", params={"day": day, "store": period["store"]})
        if period["store"] else _nothing())
    if liability.status in (401, 403):
        return api_error_page(request, liability)
    per_day: dict[str, int] = {}
    for row in liability.items():
        per_day[row["day"]] = per_day.get(row["day"], 0) + int(row["points"])
    chart = bars(sorted(per_day.items())[-31:], translate(current.lang, "report.liability_chart")) if per_day else None
    daily_chart = None
    if daily is not None and daily.ok:
        figures = daily.body["points"]
        daily_chart = bars([(translate(current.lang, f"report.{k}"), int(figures[k]))
                            for k in ("issued", "redeemed", "expired", "reversed")],
                           translate(current.lang, "report.daily_chart", store=period["store"], day=day))
    return render(request, "reports.html", period=period, day=day, liability=liability, settlement=settlement,
                  daily=daily, chart=chart, daily_chart=daily_chart,
                  next_liability=page_link(request, cursor=liability.next_cursor) if liability.next_cursor else None,
                  next_settlement=page_link(request, scursor=settlement.next_cursor) if settlement.next_cursor
                  else None, first_url=page_link(request, cursor=None, scursor=None) if cursor or scursor else None)


async def _nothing() -> None:
    return None


@router.get("/reports/{name}.csv")
async def download(request: Request, name: str) -> Response:
    require(request, "staff")
    if name not in COLUMNS:
        return api_error_page(request, _not_found())
    period = _period(request)
    params: dict[str, Any] = period if name == "liability" else {"from": period["from"], "to": period["to"]}
    first = await call(request, "GET", f"/v1/points/reports/{name}", params={**params, "limit": 200})
    if not first.ok:
        return api_error_page(request, first)

    async def rows() -> AsyncIterator[str]:
        page = first
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS[name])
        while True:
            for item in page.items():
                writer.writerow([item.get(column) for column in COLUMNS[name]])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if not page.next_cursor:
                return
            page = await call(request, "GET", f"/v1/points/reports/{name}",
                              params={**params, "limit": 200, "cursor": page.next_cursor})
            if not page.ok:  # said in the file rather than cut short silently
                yield f"# stopped: {page.error.get('message')}\n"
                return

    filename = f"{name}-{period['from']}-{period['to']}.csv"
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _not_found() -> Any:
    from services.console.api import ApiResult

    return ApiResult(404, {"error": {"code": "not_found", "message": "no such report"}})

