"""The member page (/m/): one-time-code login, balance, tier, history, coupons with a QR code for
the till, daily check-in, rewards exchange, consent settings, export of one's data."""
from __future__ import annotations

import asyncio
import json
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.codes import qr_svg
from services.console.i18n import translate
from services.console.routes_member import CONSENT_CHANNELS
from services.console.web import (
    api,
    api_error_page,
    call,
    client_ip,
    page_link,
    posted,
    render,
    require,
    see_other,
    session,
)

router = APIRouter(prefix="/m")


@router.get("/login")
async def login_page(request: Request, expired: str | None = None) -> Response:
    return render(request, "m_login.html", expired=bool(expired), step="code" if session(request).phone else "phone")


@router.post("/code")
async def send_code(request: Request) -> Response:
    form = await posted(request)
    current = session(request)
    phone = form.get("phone", "").strip()
    registering = form.get("register") == "on"
    result = await api(request).call("POST", "/v1/auth/member/code", client_ip=client_ip(request),
                                     json={"phone": phone, "purpose": "register" if registering else "login"})
    if not result.ok:
        return render(request, "m_login.html", status_code=result.status, error=result.error, step="phone", phone=phone)
    current.phone, current.registering = phone, registering
    current.notices.append(translate(current.lang, "me.code_sent", phone=_mask(phone),
                                     minutes=int(result.body.get("expires_in", 300)) // 60))
    return see_other("/m/login")


@router.post("/restart")
async def restart(request: Request) -> Response:
    await posted(request)
    session(request).phone, session(request).registering = None, False
    return see_other("/m/login")


@router.post("/login")
async def login(request: Request) -> Response:
    form = await posted(request)
    current = session(request)
    proof = {"phone": current.phone or "", "code": form.get("code", "").strip()}
    if current.registering:  # a new member: registered and logged in at once
        result = await api(request).call("POST", "/v1/auth/member/register", client_ip=client_ip(request),
                                         json={**proof, "name": form.get("name", "").strip(), "channel": "web"})
    else:
        result = await api(request).call("POST", "/v1/auth/member/token", client_ip=client_ip(request), json=proof)
    if not result.ok:
        return render(request, "m_login.html", status_code=result.status, error=result.error, step="code",
                      name=form.get("name", ""))
    fresh = await request.app.state.sessions.rotate(current)
    fresh.access_token, fresh.refresh_token = result.body["access_token"], result.body["refresh_token"]
    me = await api(request).call("GET", "/v1/me", fresh, client_ip=client_ip(request))
    if not me.ok:
        return render(request, "m_login.html", status_code=me.status, error=me.error, step="phone")
    fresh.kind, fresh.member_id, fresh.name = "member", me.body["member_id"], me.body.get("name") or ""
    request.state.session = fresh
    return see_other("/m/")


def _mask(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 7 else "****"


@router.get("/")
async def home(request: Request, hcursor: str | None = None) -> Response:
    current = require(request, "member")
    base = f"/v1/members/{current.member_id}"
    account, history, coupons, rewards, consents = await asyncio.gather(
        call(request, "GET", base + "/points"),
        call(request, "GET", base + "/points/history", params={"limit": 10, "cursor": hcursor}),
        call(request, "GET", base + "/coupons", params={"status": "valid", "limit": 20}),
        call(request, "GET", "/v1/rewards", params={"active_only": "true", "limit": 20}),
        call(request, "GET", base + "/consents"))
    if account.status == 401:
        return api_error_page(request, account)
    codes = {c["code"]: qr_svg(c["code"], c["code"]) for c in coupons.items()}
    return render(request, "m_home.html", account=account, history=history, coupons=coupons, codes=codes,
                  rewards=rewards, consents={c["channel"]: c for c in consents.items()}, channels=CONSENT_CHANNELS,
                  next_history=page_link(request, hcursor=history.next_cursor) if history.next_cursor else None,
                  first_history=page_link(request, hcursor=None) if hcursor else None, exchange_key=str(uuid.uuid4()))


@router.post("/checkin")
async def checkin(request: Request) -> Response:
    current = require(request, "member")
    await posted(request)
    result = await call(request, "POST", f"/v1/members/{current.member_id}/points/activities",
                        json={"kind": "checkin"})
    if not result.ok:
        return api_error_page(request, result)
    granted = result.body.get("granted")
    current.notices.append(translate(current.lang, "me.checked_in" if granted else "me.already_checked_in",
                                     points=result.body.get("points", 0)))
    return see_other("/m/")


@router.post("/exchange")
async def exchange(request: Request) -> Response:
    current = require(request, "member")
    form = await posted(request)
    result = await call(request, "POST", f"/v1/members/{current.member_id}/rewards/exchanges",
                        json={"item_id": form.get("item_id", ""), "exchange_key": form.get("exchange_key", "")})
    if not result.ok:
        return api_error_page(request, result)
    current.notices.append(translate(current.lang, "me.exchanged"))
    return see_other("/m/#coupons")


@router.post("/consents/{channel}")
async def consent(request: Request, channel: str) -> Response:
    current = require(request, "member")
    form = await posted(request)
    result = await call(request, "PUT", f"/v1/members/{current.member_id}/consents/{channel}",
                        json={"granted": form.get("granted") == "true", "text_version": "2026-11", "source": "web"})
    if not result.ok:
        return api_error_page(request, result)
    current.notices.append(translate(current.lang, "me.consent_saved"))
    return see_other("/m/#consents")


@router.get("/export")
async def export(request: Request) -> Response:
    current = require(request, "member")
    result = await call(request, "GET", f"/v1/members/{current.member_id}/export")
    if not result.ok:
        return api_error_page(request, result)
    return Response(json.dumps(result.body, ensure_ascii=False, indent=2), media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="my-membership-data.json"'})
