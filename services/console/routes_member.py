"""A member at the desk: profile, points, lots expiring, history, coupons, consents, messages; edit
(with the ETag), adjust points, erase. Each part is asked of the API only if the role may see it."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.api import ApiResult
from services.console.i18n import translate
from services.console.web import api_error_page, call, can, page_link, posted, render, require, see_other

router = APIRouter()
EDITABLE = ("name", "email", "phone", "birthday", "gender", "status", "tags")
CONSENT_CHANNELS = ("sms", "email", "push", "marketing")


async def _part(request: Request, operation: str, path: str, **params: Any) -> ApiResult | None:
    if not can(request, operation):
        return None
    return await call(request, "GET", path, params=params or None)


@router.get("/members/{member_id}")
async def member_route(request: Request, member_id: uuid.UUID, hcursor: str | None = None,
                       ccursor: str | None = None, lcursor: str | None = None) -> Response:
    return await member_page(request, member_id, hcursor, ccursor, lcursor)


async def member_page(request: Request, member_id: uuid.UUID, hcursor: str | None = None,
                      ccursor: str | None = None, lcursor: str | None = None, error: dict[str, Any] | None = None,
                      status_code: int = 200) -> Response:
    require(request, "staff")
    base = f"/v1/members/{member_id}"
    member, (account, lots, history, coupons, consents, messages, changes) = await asyncio.gather(call(
        request, "GET", base), asyncio.gather(_part(request, "get_account", base + "/points"),
        _part(request, "points_lots", base + "/points/lots", limit=10, cursor=lcursor),
        _part(request, "points_history", base + "/points/history", limit=20, cursor=hcursor),
        _part(request, "member_coupons", base + "/coupons", limit=20, cursor=ccursor),
        _part(request, "member_consents", base + "/consents"),
        _part(request, "member_messages", base + "/messages", limit=10),
        _part(request, "member_history", base + "/history", limit=10)))
    if not member.ok:
        return api_error_page(request, member)
    record = member.body
    stores = require(request, "staff").stores
    # the API refuses a store-bound caller's changes to another store's member (edit, merge, erase):
    # not offered, and the API still decides
    in_scope = stores is None or record.get("registration_store") in stores
    return render(request, "member.html", status_code=status_code, m=record, in_scope=in_scope,
                  version=member.headers.get("etag", "").strip('"') or record.get("version"),
                  account=account, lots=lots, history=history, coupons=coupons, consents=_consents(consents),
                  messages=messages, changes=changes,
                  next_history=page_link(request, hcursor=history.next_cursor) if history and history.next_cursor
                  else None, first_history=page_link(request, hcursor=None) if hcursor else None,
                  next_lots=page_link(request, lcursor=lots.next_cursor) if lots and lots.next_cursor else None,
                  first_lots=page_link(request, lcursor=None) if lcursor else None,
                  next_coupons=page_link(request, ccursor=coupons.next_cursor) if coupons and coupons.next_cursor
                  else None, first_coupons=page_link(request, ccursor=None) if ccursor else None,
                  error=error, form_key=str(uuid.uuid4()), channels=CONSENT_CHANNELS)


def _consents(result: ApiResult | None) -> dict[str, dict[str, Any]] | None:
    if result is None or not result.ok:
        return None
    return {item["channel"]: item for item in result.items()}


@router.post("/members/{member_id}/edit")
async def edit(request: Request, member_id: uuid.UUID) -> Response:
    current = require(request, "staff")
    form = await posted(request)
    changes: dict[str, Any] = {}
    for field in EDITABLE:
        if field not in form or form[field] == form.get("orig_" + field, ""):
            continue
        value = form[field].strip()
        if field == "tags":
            changes[field] = [tag.strip() for tag in value.split(",") if tag.strip()]
        else:
            changes[field] = value if field == "email" else (value or None)  # "" removes an email
    if not changes:
        return see_other(f"/members/{member_id}")
    result = await call(request, "PATCH", f"/v1/members/{member_id}", json=changes,
                        headers={"If-Match": f'"{form.get("version", "")}"'})
    return await _after(request, result, member_id, translate(current.lang, "member.saved"))


@router.post("/members/{member_id}/adjust")
async def adjust(request: Request, member_id: uuid.UUID) -> Response:
    current = require(request, "staff")
    form = await posted(request)
    points: object = form.get("points", "").strip()
    try:
        points = int(str(points))
    except ValueError:
        pass  # the API names the field
    body: dict[str, Any] = {"points": points, "reason": form.get("reason", "").strip()}
    if current.stores:
        body["store"] = current.stores[0]
    result = await call(request, "POST", f"/v1/members/{member_id}/points/adjustments", json=body,
                        idempotency_key=form.get("form_key") or None)
    balance = result.body.get("balance") if result.ok else None
    return await _after(request, result, member_id, translate(current.lang, "member.adjusted", balance=balance))


@router.post("/members/{member_id}/erase")
async def erase(request: Request, member_id: uuid.UUID) -> Response:
    current = require(request, "staff")
    form = await posted(request)
    if form.get("confirm", "").strip() != form.get("member_number", "") or not form.get("member_number"):
        return await member_page(request, member_id, status_code=422, error={
            "code": "not_confirmed", "message": translate(current.lang, "member.erase_mismatch"), "field": "confirm"})
    result = await call(request, "POST", f"/v1/members/{member_id}/erase", idempotency_key=form.get("form_key"))
    return await _after(request, result, member_id, translate(current.lang, "member.erased"))


@router.post("/members/{member_id}/merge")
async def merge(request: Request, member_id: uuid.UUID) -> Response:
    """Another member (by card number) merged into this one: their points, coupons and number lead here."""
    current = require(request, "staff")
    form = await posted(request)
    number = form.get("other_number", "").strip()
    found = await call(request, "GET", "/v1/members", params={"member_number": number})
    others = [m for m in found.items() if m["member_id"] != str(member_id)]
    if not found.ok or not others:
        error = found.error if not found.ok else {"code": "not_found", "field": "other_number",
                                                   "message": translate(current.lang, "member.merge_unknown")}
        return await member_page(request, member_id, error=error, status_code=found.status if not found.ok else 404)
    result = await call(request, "POST", f"/v1/members/{member_id}/merge",
                        json={"merged_member_id": others[0]["member_id"]}, idempotency_key=form.get("form_key"))
    return await _after(request, result, member_id, translate(current.lang, "member.merged", number=number))


@router.post("/members/{member_id}/consents/{channel}")
async def consent(request: Request, member_id: uuid.UUID, channel: str) -> Response:
    current = require(request, "staff")
    form = await posted(request)
    result = await call(request, "PUT", f"/v1/members/{member_id}/consents/{channel}",
                        json={"granted": form.get("granted") == "true", "text_version": form.get("text_version")
                              or "2026-11", "source": "staff"})
    return await _after(request, result, member_id, translate(current.lang, "member.saved"))


async def _after(request: Request, result: ApiResult, member_id: uuid.UUID, notice: str) -> Response:
    """Back to the member page with a notice, or the page again with the API's error (its status)."""
    if result.status == 401:
        return api_error_page(request, result)
    if not result.ok:
        return await member_page(request, member_id, error=result.error, status_code=result.status)
    require(request, "staff").notices.append(notice)
    return see_other(f"/members/{member_id}")
