"""Back-office lists: notify's delivery log and dead letters (with replay), member imports with
their progress and per-row errors."""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.i18n import translate
from services.console.web import api_error_page, call, page_link, posted, render, require, see_other

router = APIRouter()
MESSAGE_FILTERS = ("status", "member_id", "campaign_id")


@router.get("/messages")
async def messages(request: Request, cursor: str | None = None) -> Response:
    require(request, "staff")
    filters = {name: request.query_params.get(name, "").strip() for name in MESSAGE_FILTERS}
    listed = await call(request, "GET", "/v1/notify/messages", params={**filters, "cursor": cursor, "limit": 50})
    if not listed.ok and not listed.error.get("field"):
        return api_error_page(request, listed)
    return render(request, "messages.html", status_code=listed.status, items=listed.items(), filters=filters,
                  error=None if listed.ok else listed.error, dead=False,
                  next_url=page_link(request, cursor=listed.next_cursor) if listed.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)


@router.get("/dead-letters")
async def dead_letters(request: Request, cursor: str | None = None) -> Response:
    require(request, "staff")
    listed = await call(request, "GET", "/v1/notify/dead-letters", params={"cursor": cursor, "limit": 50})
    if not listed.ok:
        return api_error_page(request, listed)
    return render(request, "messages.html", items=listed.items(), filters={}, error=None, dead=True,
                  depth=listed.body.get("depth"),
                  next_url=page_link(request, cursor=listed.next_cursor) if listed.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)


@router.post("/dead-letters/{message_id}/replay")
async def replay(request: Request, message_id: uuid.UUID) -> Response:
    current = require(request, "staff")
    await posted(request)
    result = await call(request, "POST", f"/v1/notify/dead-letters/{message_id}/replay")
    if not result.ok:
        return api_error_page(request, result)
    current.notices.append(translate(current.lang, "ops.replayed", status=result.body.get("status")))
    return see_other("/dead-letters")


@router.get("/imports")
async def imports_page(request: Request) -> Response:
    require(request, "staff")
    return render(request, "imports.html", job=None, errors=None)


@router.post("/imports")
async def start_import(request: Request) -> Response:
    """The uploaded file goes to the API as it is (CSV or JSON; the API detects GBK and refuses UTF-16)."""
    current = require(request, "staff")
    form = await request.form()
    if not current.csrf_ok(str(form.get("csrf") or "")):
        await posted(request)  # answers the stale form as every other POST does
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return render(request, "imports.html", status_code=422, job=None, errors=None,
                      error={"code": "invalid_input", "message": translate(current.lang, "ops.no_file"),
                             "field": "file"})
    content = await upload.read()
    kind = "application/json" if (upload.filename or "").lower().endswith((".json", ".ndjson")) else "text/csv"
    result = await call(request, "POST", "/v1/members/imports", content=content, headers={"Content-Type": kind},
                        params={"source": str(form.get("source") or "console")})
    if not result.ok:
        return render(request, "imports.html", status_code=result.status, job=None, errors=None, error=result.error)
    return see_other(f"/imports/{result.body['job_id']}")


@router.get("/imports/{job_id}")
async def import_job(request: Request, job_id: uuid.UUID, cursor: str | None = None) -> Response:
    require(request, "staff")
    job = await call(request, "GET", f"/v1/members/imports/{job_id}")
    if not job.ok:
        return api_error_page(request, job)
    errors = await call(request, "GET", f"/v1/members/imports/{job_id}/errors", params={"cursor": cursor,
                                                                                        "limit": 50})
    fragment = request.headers.get("HX-Request") == "true"
    return render(request, "_import_job.html" if fragment else "imports.html", job=job.body, errors=errors,
                  next_url=page_link(request, cursor=errors.next_cursor) if errors.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)
