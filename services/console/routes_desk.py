"""The member desk: find members by phone, member number or name; register one."""
from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.i18n import translate
from services.console.web import api_error_page, call, page_link, posted, render, require, see_other

router = APIRouter()
SEARCH_BY = {"phone": "phone", "member_number": "member_number", "name": "name_prefix"}


@router.get("/desk")
async def desk(request: Request, by: str = "phone", q: str = "", cursor: str | None = None) -> Response:
    current = require(request, "staff")
    found, error, next_url, status = None, None, None, 200
    if q.strip():
        param = SEARCH_BY.get(by, "phone")
        result = await call(request, "GET", "/v1/members", params={param: q.strip(), "cursor": cursor, "limit": 20})
        if result.status == 401:
            return api_error_page(request, result)
        if result.ok:
            found = result.items()
            next_url = page_link(request, cursor=result.next_cursor) if result.next_cursor else None
        else:
            error, status = result.error, result.status
    return render(request, "desk.html", status_code=status,
                  by=by, q=q, found=found, error=error, next_url=next_url,
                  first_url=page_link(request, cursor=None) if cursor else None,
                  default_store=(current.stores or ("",))[0], form_key=str(uuid.uuid4()), form={})


@router.post("/desk/register")
async def register(request: Request) -> Response:
    current = require(request, "staff")
    form = await posted(request)
    body: dict[str, object] = {k: form[k].strip() for k in ("name", "phone", "registration_store", "email",
                                                             "birthday", "gender") if form.get(k, "").strip()}
    body["channel"] = "staff"
    result = await call(request, "POST", "/v1/members", json=body, idempotency_key=form.get("form_key") or None)
    if result.status == 401:
        return api_error_page(request, result)
    if not result.ok:
        return render(request, "desk.html", status_code=result.status, by="phone", q="", found=None,
                      register_error=result.error, default_store=(current.stores or ("",))[0],
                      form_key=str(uuid.uuid4()), form=form, next_url=None, first_url=None)
    member = result.body["member"]
    current.notices.append(translate(current.lang, "member.registered" if result.body.get("created")
                                     else "member.existing"))
    return see_other(f"/members/{member['member_id']}")

