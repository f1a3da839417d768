"""The audit log with filters, paged by the API's cursor, and the hash chain's verification state."""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.web import api_error_page, call, page_link, render, require

router = APIRouter()
FILTERS = ("actor_id", "action", "object_id", "outcome", "since", "until")


@router.get("/audit")
async def audit(request: Request, cursor: str | None = None) -> Response:
    require(request, "staff")
    filters = {name: request.query_params.get(name, "").strip() for name in FILTERS}
    params = {**filters, "cursor": cursor, "limit": 50}
    entries, verified = await asyncio.gather(call(request, "GET", "/v1/audit", params=params),
                                             call(request, "GET", "/v1/audit/verify"))
    if not entries.ok and not (entries.status == 422 and entries.error.get("field")):
        return api_error_page(request, entries)
    return render(request, "audit.html", status_code=entries.status, entries=entries.items(), filters=filters,
                  error=None if entries.ok else entries.error, verified=verified,
                  next_url=page_link(request, cursor=entries.next_cursor) if entries.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)
