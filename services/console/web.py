"""What every page handler shares: the session, the CSRF check, rendering, calling the API."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.console.api import Api, ApiResult
from services.console.i18n import translate
from services.console.sessions import Session

TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html", "svg"]), trim_blocks=True, lstrip_blocks=True)


class Refused(Exception):
    """Ends a handler with a page: a stale form (403), a login needed (redirect)."""

    def __init__(self, response: Response) -> None:
        self.response = response


def session(request: Request) -> Session:
    found: Session = request.state.session
    return found


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def api(request: Request) -> Api:
    found: Api = request.app.state.api
    return found


async def call(request: Request, method: str, path: str, **kwargs: Any) -> ApiResult:
    """The API as the logged-in user, from the browser's address."""
    return await api(request).call(method, path, session(request), client_ip=client_ip(request), **kwargs)


async def posted(request: Request) -> dict[str, str]:
    """The submitted form, once its CSRF token matched the session's (every POST goes through here)."""
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    if not session(request).csrf_ok(values.get("csrf") or request.headers.get("X-CSRF-Token")):
        raise Refused(render(request, "error.html", status_code=403,
                             error={"code": "csrf", "message": translate(session(request).lang, "error.csrf")}))
    return values


def can(request: Request, operation: str) -> bool:
    allowed: bool = request.app.state.permissions.can(session(request), operation)
    return allowed


def require(request: Request, kind: str) -> Session:
    """The session when logged in as ``kind`` ("staff" or "member"), else off to the login page."""
    current = session(request)
    if current.kind != kind or not current.access_token:
        target = "/login" if kind == "staff" else "/m/login"
        raise Refused(RedirectResponse(target + "?" + urlencode({"next": request.url.path}), status_code=303))
    return current


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    current = session(request)
    lang = current.lang

    def t(key: str, **values: object) -> str:
        return translate(lang, key, **values)

    html = TEMPLATES.get_template(template).render(
        request=request, s=current, t=t, lang=lang, csrf=current.csrf, can=lambda op: can(request, op),
        path=request.url.path, notices=_pop_notices(current), **context)
    return HTMLResponse(html, status_code=status_code)


def _pop_notices(current: Session) -> list[str]:
    notices, current.notices = current.notices, []
    return notices


def api_error_page(request: Request, result: ApiResult, template: str = "error.html", **context: Any) -> Response:
    """A failed API call as a page with the API's status, message and field; a 401 back to the login."""
    if result.status == 401:
        current = session(request)
        current.kind = current.access_token = current.refresh_token = None
        target = "/m/login" if request.url.path.startswith("/m") else "/login"
        return RedirectResponse(target + "?expired=1", status_code=303)
    return render(request, template, status_code=result.status, error=result.error, **context)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def page_link(request: Request, **changes: str | None) -> str:
    """This page's URL with some query parameters changed (the cursor of the next page)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return request.url.path + ("?" + urlencode(params) if params else "")
