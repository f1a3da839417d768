"""Campaigns: the list, a new campaign for a segment, a campaign moved through its states, and its
results with the lift against the control group as charts."""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.charts import bars, percent
from services.console.i18n import translate
from services.console.web import api_error_page, call, page_link, posted, render, require, see_other

router = APIRouter()
TYPES = ("coupon_drop", "points_bonus", "points_multiplier", "member_day", "birthday", "win_back", "referral")
# the moves the API allows from each state (docs/api.md); the API still refuses any other with a 409
NEXT = {"draft": ("scheduled",), "scheduled": ("running", "draft", "finished"), "running": ("paused", "finished"),
        "paused": ("running", "finished"), "finished": ()}


@router.get("/campaigns")
async def campaigns(request: Request, cursor: str | None = None, segment_id: str = "") -> Response:
    require(request, "staff")
    return await _list_page(request, cursor, {"segment_id": segment_id})


async def _list_page(request: Request, cursor: str | None, form: dict[str, str], error: dict[str, Any] | None = None,
                     status_code: int = 200) -> Response:
    listed, segments, templates = await asyncio.gather(
        call(request, "GET", "/v1/campaigns", params={"limit": 20, "cursor": cursor}),
        call(request, "GET", "/v1/segments", params={"limit": 100}),
        call(request, "GET", "/v1/coupons/templates", params={"limit": 100}))
    if not listed.ok:
        return api_error_page(request, listed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    defaults = {"starts_at": now.strftime("%Y-%m-%dT%H:%M"), "ends_at": (now + timedelta(days=30)).strftime(
        "%Y-%m-%dT%H:%M"), "control_share": "0.10", "attribution_days": "14", "form_key": str(uuid.uuid4())}
    return render(request, "campaigns.html", status_code=status_code, campaigns=listed.items(),
                  segments=segments.items(), templates=templates.items(), types=TYPES, form={**defaults, **form},
                  error=error, next_url=page_link(request, cursor=listed.next_cursor) if listed.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)


def campaign_body(form: dict[str, str]) -> dict[str, Any]:
    """The API's campaign from the form (empty fields left out: the API's defaults apply)."""
    body: dict[str, Any] = {"name": form.get("name", "").strip(), "type": form.get("type", ""),
                            "segment_id": form.get("segment_id", ""), "campaign_id": form.get("form_key") or None}
    for name in ("starts_at", "ends_at"):
        body[name] = form.get(name, "") + ("" if len(form.get(name, "")) > 16 else ":00Z")
    for name in ("control_share", "multiplier", "coupon_template_id", "channel", "template"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    for name in ("attribution_days", "points_per_sale", "per_member_limit"):
        if form.get(name, "").strip():
            body[name] = _int(form[name])
    budget = {k: _int(form[f"budget_{k}"]) for k in ("coupons", "points") if form.get(f"budget_{k}", "").strip()}
    if form.get("budget_money", "").strip():
        budget["money"] = form["budget_money"].strip()
    if budget:
        body["budget"] = budget
    stores = [s.strip() for s in form.get("stores", "").split(",") if s.strip()]
    if stores:
        body["stores"] = stores
    return body


def _int(raw: str) -> int | str:
    try:
        return int(raw.strip())
    except ValueError:
        return raw  # the API names the field


@router.post("/campaigns")
async def create(request: Request) -> Response:
    require(request, "staff")
    form = await posted(request)
    made = await call(request, "POST", "/v1/campaigns", json=campaign_body(form))
    if made.ok:
        return see_other(f"/campaigns/{made.body['campaign_id']}")
    if made.status == 401:
        return api_error_page(request, made)
    return await _list_page(request, None, form, made.error, made.status)


@router.get("/campaigns/{campaign_id}")
async def campaign(request: Request, campaign_id: uuid.UUID) -> Response:
    current = require(request, "staff")
    base = f"/v1/campaigns/{campaign_id}"
    found, history, results = await asyncio.gather(call(request, "GET", base), call(request, "GET", base + "/history"),
                                                   call(request, "GET", base + "/results"))
    if not found.ok:
        return api_error_page(request, found)
    charts = _charts(current.lang, results.body) if results.ok else {}
    return render(request, "campaign.html", c=found.body, history=history, results=results, charts=charts,
                  moves=NEXT.get(found.body["status"], ()))


def _charts(lang: str, results: dict[str, Any]) -> dict[str, Any]:
    total = results["total"]
    treated, control = translate(lang, "campaign.treated"), translate(lang, "campaign.control")
    conversion = [(treated, percent(total.get("conversion")))]
    if total.get("control_conversion") is not None:
        conversion.append((control, percent(total.get("control_conversion"))))
    stores = sorted(results.get("by_store", {}).items())
    lift = [(translate(lang, "campaign.all_stores"), total.get("lift"))]
    lift += [(store or "—", figures.get("lift")) for store, figures in stores]
    lift = [(label, percent(value)) for label, value in lift if value is not None]
    # treated beside control in each store: the comparison the lift is made of
    paired = [(f"{store or '—'} · {name}", percent(figures.get(key)), css) for store, figures in stores
              for name, key, css in ((treated, "conversion", ""), (control, "control_conversion", "control"))
              if figures.get(key) is not None]
    return {
        "conversion": bars(conversion, translate(lang, "campaign.conversion"), "%", ["", "control"]),
        "reach": bars([(treated, int(total["reached"])), (control, int(total["control"]))],
                      translate(lang, "campaign.reach"), classes=["", "control"]),
        "stores": bars(lift, translate(lang, "campaign.lift_by_store"), " pp") if lift else None,
        "store_conversion": bars([(label, value) for label, value, _ in paired],
                                 translate(lang, "campaign.conversion_by_store"), "%",
                                 [css for _, _, css in paired], width=640) if paired else None,
    }


@router.post("/campaigns/{campaign_id}/status")
async def move(request: Request, campaign_id: uuid.UUID) -> Response:
    current = require(request, "staff")
    form = await posted(request)
    moved = await call(request, "POST", f"/v1/campaigns/{campaign_id}/status",
                       json={"status": form.get("status", ""), **({"note": form["note"]} if form.get("note") else {})})
    if not moved.ok:
        return api_error_page(request, moved)
    current.notices.append(translate(current.lang, "campaign.moved", status=moved.body["status"]))
    return see_other(f"/campaigns/{campaign_id}")
