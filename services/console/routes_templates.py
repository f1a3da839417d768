"""Coupon templates (满减 threshold, 折扣 percent, 立减 cash, gift): the list, a new one with a live
preview of what a basket would get, created through the API (which checks every term)."""
from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.web import api_error_page, call, page_link, posted, render, require, see_other

router = APIRouter()
KINDS = ("threshold", "percent", "cash", "gift")
MONEY_FIELDS = ("amount", "min_spend", "max_discount", "gift_value", "budget_value")
INT_FIELDS = ("valid_days", "budget_count", "per_member_limit")
CENT = Decimal("0.01")


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


def basket_preview(form: dict[str, str]) -> dict[str, Decimal] | None:
    """What a whole basket of ``basket`` would get from these terms (no item limits), for the preview;
    None while a number is missing or not a number. The API decides for real at the till."""
    try:
        basket = Decimal(form.get("basket") or "0")
        kind = form.get("kind")
        reached = basket >= Decimal(form.get("min_spend") or "0")
        if kind == "threshold":
            off = Decimal(form["amount"]) if reached else Decimal(0)
        elif kind == "cash":
            off = min(Decimal(form["amount"]), basket) if reached else Decimal(0)
        elif kind == "percent":
            off = basket * (Decimal(100) - Decimal(form["price_percent"])) / 100
            if form.get("max_discount"):
                off = min(off, Decimal(form["max_discount"]))
        elif kind == "gift":
            off = Decimal(form.get("gift_value") or "0")
        else:
            return None
    except (KeyError, InvalidOperation):
        return None
    off = max(Decimal(0), off).quantize(CENT, ROUND_HALF_UP)
    return {"basket": basket.quantize(CENT), "off": off, "pay": max(Decimal(0), basket - off).quantize(CENT)}


@router.get("/templates")
async def templates(request: Request, cursor: str | None = None) -> Response:
    require(request, "staff")
    return await _page(request, cursor, {"kind": "threshold", "basket": "100.00", "form_key": str(uuid.uuid4())})


async def _page(request: Request, cursor: str | None, form: dict[str, str], error: dict[str, Any] | None = None,
                status_code: int = 200) -> Response:
    listed = await call(request, "GET", "/v1/coupons/templates", params={"limit": 50, "cursor": cursor})
    if not listed.ok:
        return api_error_page(request, listed)
    return render(request, "templates.html", status_code=status_code, items=listed.items(), form=form, kinds=KINDS,
                  preview=basket_preview(form), error=error,
                  next_url=page_link(request, cursor=listed.next_cursor) if listed.next_cursor else None,
                  first_url=page_link(request, cursor=None) if cursor else None)


@router.post("/templates/preview")
async def preview(request: Request) -> Response:
    require(request, "staff")
    form = await posted(request)
    return render(request, "_template_preview.html", preview=basket_preview(form))


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
