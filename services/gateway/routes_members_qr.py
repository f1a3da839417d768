"""/v1/members/me/qr and /v1/members/identify: the member's dynamic QR code and the till that
scans it (docs/lifecycle.md)."""
from __future__ import annotations

import io

import segno
from fastapi import APIRouter, Request, Response
from pydantic import Field

from contracts.rpc import IdentifyByCode, MemberQr
from services.gateway.routes_members_common import MemberOut, member_out, till_points
from services.gateway.security.policy import allow, deny
from services.gateway.security.principal import Principal

router = APIRouter(tags=["members"])


class MemberQrOut(MemberQr):
    svg: str = Field(description="The code as an SVG QR symbol (error correction M), ready to show")


def qr_svg(text: str) -> str:
    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="svg", scale=4, border=4, xmldecl=False, svgns=True,
                                        svgclass="qr", lineclass=None, dark="#000", light="#fff")
    return out.getvalue().decode()


@router.get("/members/me/qr", response_model=MemberQrOut, summary="A fresh member QR code (the member's token)",
            description="Signed, valid about 60 s; ask again for each scan. Show `svg`, or print `code` as a QR "
                        "code in alphanumeric mode.")
async def my_qr(request: Request, response: Response, caller: Principal = allow(member=True)) -> MemberQrOut:
    found = await request.app.state.services.call(request, "members", "member_qr", member_id=caller.member_id)
    response.headers["Cache-Control"] = "no-store"
    return MemberQrOut(**found, svg=qr_svg(found["code"]))


@router.post("/members/identify", response_model=MemberOut, summary="The member a scanned QR code names (tills)",
             responses={422: {"description": "`code` is malformed, forged, or expired (a fresh one is needed)"}})
async def identify(body: IdentifyByCode, request: Request,
                   caller: Principal = allow("clerk", "manager", "admin", scopes=["members:read"])) -> MemberOut:
    if caller.kind == "key" and "pos" not in caller.roles:
        await deny(request, "member codes are scanned at tills: POS keys and staff at a counter")
    member = await request.app.state.services.call(request, "members", "identify_code", code=body.code)
    points = await till_points(request, [member["member_id"]])
    return await member_out(request, caller, member, None if points is None else points.get(member["member_id"]),
                            points_unavailable=points is None)
