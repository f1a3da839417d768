"""Coupon templates (满减 threshold, 折扣 percent, 立减 cash, gift): the list, a new one with a live
preview of what a basket would get (the campaigns service's own answer, through the API), created
through the API (which checks every term)."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.api import ApiResult
from services.console.web import api_error_page, call, can, page_link, posted, render, require, see_other

router = APIRouter()
KINDS = ("threshold", "percent", "cash", "gift")
MONEY_FIELDS = ("amount", "min_spend", "max_discount", "gift_value", "budget_value")
INT_FIELDS = ("valid_days", "budget_count", "per_member_limit")


def template_body(form: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {"name": form.get("name", "").strip(), "kind": form.get("kind", "")}
    for name in MONEY_FIELDS + ("price_percent", "gift_sku"):
        if form.get(name, "").strip():
            body[name] = form[name].strip()
    for name in INT_FIELDS:
        if form.get(name, "").strip():
            raw = form[name].strip()
            body[name] = int(raw) if raw.isdigit() else raw  # the API names a field that is not a number
    stores = [s.strip() for s in form.get("stores", "").split(",") if s.strip()]
    if stores:
        body["stores"] = stores
    body["stackable"] = form.get("stackable") == "on"
    if form.get("confirm_high_discount") == "on":
        body["confirm_high_discount"] = True
    return body


def preview_body(form: dict[str, str], store: str) -> dict[str, Any]:
    """The API's template preview request: these terms (unsaved) and a basket of ``basket`` at ``store``."""
    terms = {**template_body(form), "name": form.get("name", "").strip() or "preview"}
    return {"template": terms, "basket": {"store": form.get("basket_store", "").strip() or store,
                                          "amount": form.get("basket", "").strip() or "0"}}


def _default_store(request: Request, form: dict[str, str]) -> str:
    """The basket's store when none is typed: the user's own, else the template's first, else any."""
    stores = require(request, "staff").stores or [s.strip() for s in form.get("stores", "").split(",") if s.strip()]
    return stores[0] if stores else "ANY"


async def _preview(request: Request, form: dict[str, str]) -> ApiResult | None:
    """What the campaigns service says a basket gets from these terms (the till's arithmetic), if
    this user may make templates at all."""
    if not can(request, "preview_template"):
        return None
    return await call(request, "POST", "/v1/coupons/templates/preview",
                      json=preview_body(form, _default_store(request, form)))


@router.get("/templates")
async def templates(request: Request, cursor: str | None = None) -> Response:
    require(request, "staff")
    return await _page(request, cursor, {"kind": "threshold", "basket": "100.00", "form_key": str(uuid.uuid4())})


async def _page(request: Request, cursor: str | None, form: dict[str, str], error: dict[str, Any] | None = None,
                status_code: int = 200) -> Response:
    listed, preview = await asyncio.gather(
        call(request, "GET", "/v1/coupons/templates", params={"limit": 50, "cursor": cursor}), _preview(request, form))
    if not listed.ok:
        return api_error_page(request, listed)
    return render(request, "templates.html", status_code=status_code, items=listed.items(), form=form, kinds=KINDS,
                  preview=preview, error=error, basket_store=_default_store(request, form),
                  next_url=page_link(request, cursor=listed.next_cursor) if listed.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)


@router.post("/templates/preview")
async def preview(request: Request) -> Response:
    require(request, "staff")
    form = await posted(request)
    return render(request, "_template_preview.html", preview=await _preview(request, form))


@router.post("/templates")
async def create(request: Request) -> Response:
    require(request, "staff")
    form = await posted(request)
    made = await call(request, "POST", "/v1/coupons/templates", json=template_body(form),
                      idempotency_key=form.get("form_key") or None)
    if made.status == 401:
        return api_error_page(request, made)
    if not made.ok:
        return await _page(request, None, form, made.error, made.status)
    return see_other("/templates")
