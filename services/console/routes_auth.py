"""Staff log in through the API's own login (its rate limits, lockouts and audit apply); the language switch."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.sessions import LANGS, Session
from services.console.web import api, client_ip, posted, render, see_other, session

router = APIRouter()


def _safe_next(target: str | None, default: str) -> str:
    """Only a path on this site (an open redirect would send a user off with a look of trust)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


@router.get("/", include_in_schema=False)
async def home(request: Request) -> Response:
    return see_other("/desk" if session(request).staff else "/login")


@router.get("/login")
async def login_page(request: Request, next: str | None = None, expired: str | None = None) -> Response:
    return render(request, "login.html", next=_safe_next(next, "/desk"), expired=bool(expired))


@router.post("/login")
async def login(request: Request) -> Response:
    form = await posted(request)
    result = await api(request).call("POST", "/v1/auth/token", client_ip=client_ip(request),
                                     data={"username": form.get("username", ""), "password": form.get("password", "")})
    if not result.ok:
        return render(request, "login.html", status_code=result.status, error=result.error,
                      next=_safe_next(form.get("next"), "/desk"), username=form.get("username", ""))
    fresh = await request.app.state.sessions.rotate(session(request))
    fresh.access_token, fresh.refresh_token = result.body["access_token"], result.body["refresh_token"]
    me = await api(request).call("GET", "/v1/me", fresh, client_ip=client_ip(request))
    if not me.ok or me.body.get("kind") != "staff":
        return render(request, "login.html", status_code=me.status if not me.ok else 403, error=me.error)
    _staff(fresh, me.body)
    request.state.session = fresh
    return see_other(_safe_next(form.get("next"), "/desk"))


def _staff(target: Session, me: dict[str, object]) -> None:
    target.kind, target.user_id, target.name = "staff", str(me["id"]), str(me["name"])
    target.roles = frozenset(str(r) for r in me.get("roles") or [])  # type: ignore[attr-defined]
    stores = me.get("stores")
    target.stores = None if stores is None else tuple(str(s) for s in stores)  # type: ignore[attr-defined]


@router.post("/logout")
async def logout(request: Request) -> Response:
    await posted(request)
    current = session(request)
    if current.refresh_token:  # the API revokes it: a copy of the session is worthless afterwards
        await api(request).call("POST", "/v1/auth/logout", client_ip=client_ip(request),
                                json={"refresh_token": current.refresh_token})
    member = current.member
    request.state.session = await request.app.state.sessions.rotate(current)
    return see_other("/m/login" if member else "/login")


@router.post("/lang")
async def switch_language(request: Request) -> Response:
    form = await posted(request)
    current = session(request)
    if form.get("lang") in LANGS:
        current.lang = form["lang"]
    return see_other(_safe_next(form.get("back"), "/"))
