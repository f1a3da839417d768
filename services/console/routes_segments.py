"""Segments: the list, a rule builder with a live size preview (htmx), a segment with its size."""
from __future__ import annotations

import asyncio
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.api import ApiResult
from services.console.charts import bars
from services.console.i18n import translate
from services.console.segments_form import FIELDS, OPS, rows_of, rule_from
from services.console.web import api_error_page, call, can, page_link, posted, render, require, see_other

CHARTS = ["rfm_group", "abcd", "lifecycle_class"]  # the breakdown's fields the segment pages chart
router = APIRouter()


@router.get("/segments")
async def segments(request: Request, cursor: str | None = None) -> Response:
    require(request, "staff")
    listed = await call(request, "GET", "/v1/segments", params={"limit": 20, "cursor": cursor})
    if not listed.ok:
        return api_error_page(request, listed)
    return render(request, "segments.html", segments=listed.items(), rows=rows_of({}), fields=FIELDS, ops=OPS,
                  combine="all", name="", form_key=str(uuid.uuid4()),
                  next_url=page_link(request, cursor=listed.next_cursor) if listed.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)


@router.post("/segments/preview")
async def preview(request: Request) -> Response:
    """The size of the rule being built, as an HTML fragment for htmx (or the API's error and field)."""
    require(request, "staff")
    form = await posted(request)
    result = await call(request, "POST", "/v1/segments/preview", json={"rule": rule_from(form), "sample": 5})
    return render(request, "_segment_preview.html", result=result)


@router.post("/segments")
async def create(request: Request) -> Response:
    require(request, "staff")
    form = await posted(request)
    rule = rule_from(form)
    made = await call(request, "POST", "/v1/segments", json={"name": form.get("name", "").strip(), "rule": rule},
                      idempotency_key=form.get("form_key") or None)
    if made.ok:
        return see_other(f"/segments/{made.body['segment_id']}")
    if made.status == 401:
        return api_error_page(request, made)
    return render(request, "segments.html", status_code=made.status, error=made.error, segments=[],
                  rows=rows_of(rule), fields=FIELDS, ops=OPS, combine=form.get("combine", "all"),
                  name=form.get("name", ""), form_key=form.get("form_key", ""), next_url=None, first_url=None)


@router.get("/segments/{segment_id}")
async def segment(request: Request, segment_id: uuid.UUID) -> Response:
    require(request, "staff")
    found = await call(request, "GET", f"/v1/segments/{segment_id}")
    if not found.ok:
        return api_error_page(request, found)
    size, templates = await asyncio.gather(
        call(request, "GET", f"/v1/segments/{segment_id}/preview", params={"sample": 10}),
        call(request, "GET", "/v1/coupons/templates", params={"limit": 100}))
    return render(request, "segment.html", seg=found.body, result=size, form_key=str(uuid.uuid4()),
                  templates=templates.items())


@router.post("/segments/{segment_id}/coupons")
async def issue(request: Request, segment_id: uuid.UUID) -> Response:
    """A coupon to every member of the segment: a job in the campaigns service, followed on its page."""
    require(request, "staff")
    form = await posted(request)
    started = await call(request, "POST", f"/v1/segments/{segment_id}/coupons",
                         json={"template_id": form.get("template_id", ""), "request_id": form.get("form_key", "")})
    if not started.ok:
        return api_error_page(request, started)
    return see_other(f"/issue-jobs/{started.body['job_id']}")


@router.get("/issue-jobs/{job_id}")
async def issue_job(request: Request, job_id: uuid.UUID) -> Response:
    require(request, "staff")
    job = await call(request, "GET", f"/v1/coupons/issue-jobs/{job_id}")
    if not job.ok:
        return api_error_page(request, job)
    fragment = request.headers.get("HX-Request") == "true"
    return render(request, "_issue_job.html" if fragment else "issue_job.html", job=job.body)


@router.get("/segment-charts")
async def charts(request: Request, segment_id: uuid.UUID | None = None) -> Response:
    """RFM group, ABCD class and lifecycle class counts as charts, of a segment or of every live member: an htmx
    fragment loaded after the page, so a full scan of a million members never delays its first paint."""
    current = require(request, "staff")
    if segment_id is not None:
        result = await call(request, "GET", f"/v1/segments/{segment_id}/breakdown",
                            params={"by": CHARTS})
    elif can(request, "breakdown_rule"):
        result = await call(request, "POST", "/v1/segments/breakdown", json={"by": CHARTS})
    else:
        result = ApiResult(403, {})
    return render(request, "_segment_charts.html", result=result, charts=_charts(current.lang, result))


def _charts(lang: str, result: ApiResult) -> dict[str, object]:
    if not result.ok:
        return {}
    unscored = translate(lang, "segment.unscored")
    return {field: bars([(group["value"] or unscored, int(group["members"])) for group in groups],
                        translate(lang, f"segment.chart_{field}"))
            for field, groups in result.body["by"].items() if groups}
