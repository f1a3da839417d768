"""ERP sync status: each connection of the catalog's ERP adapters with its last run, rows in and
out, errors, lag, cursors and next run (GET /v1/sync/connections), and a run asked for now."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.i18n import translate
from services.console.web import api_error_page, call, page_link, posted, render, require, see_other

router = APIRouter()


@router.get("/sync")
async def sync(request: Request, cursor: str | None = None) -> Response:
    require(request, "staff")
    listed = await call(request, "GET", "/v1/sync/connections", params={"limit": 50, "cursor": cursor})
    if not listed.ok:
        return api_error_page(request, listed)
    return render(request, "sync.html", items=listed.items(),
                  next_url=page_link(request, cursor=listed.next_cursor) if listed.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)


@router.post("/sync/{name}/run")
async def run(request: Request, name: str) -> Response:
    current = require(request, "staff")
    await posted(request)
    asked = await call(request, "POST", f"/v1/sync/connections/{name}/run")
    if not asked.ok:
        return api_error_page(request, asked)
    current.notices.append(translate(current.lang, "sync.requested", name=name))
    return see_other("/sync")
