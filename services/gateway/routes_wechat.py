"""/v1/auth/wechat: a member logs in from the WeChat mini-program with wx.login's code. notify asks
WeChat (code2Session) and knows which member an openid is linked to; an unlinked openid is linked by
phone only when the member agrees (getPhoneNumber's code and consent=true), to the member holding that
phone. The answer is a member token, as the one-time-code login gives."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.errors import ApiError
from services.gateway.routes_auth import TokenOut, member_tokens

router = APIRouter(tags=["auth"])


class WechatLoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128, description="wx.login's code (one use, five minutes)")
    phone_code: str | None = Field(default=None, min_length=1, max_length=128,
                                   description="getPhoneNumber's code, to link this WeChat user to a member by phone")
    consent: bool = Field(default=False, description="The member agreed to link WeChat to their membership by "
                                                     "phone; without it no phone is asked for nor linked")


@router.post("/auth/wechat", response_model=TokenOut, summary="Member login from the WeChat mini-program",
             responses={409: {"description": "wechat_not_linked: ask the member to share their phone and agree"},
                        404: {"description": "not_a_member: no member holds the shared phone; register first"},
                        422: {"description": "The code or phone code is invalid, used or expired"}})
async def wechat_login(body: WechatLoginBody, request: Request) -> TokenOut:
    services, auditor = request.app.state.services, request.app.state.auditor
    request.state.audited = True
    request.state.principal = None  # the app logs in anonymously: notify answers the gateway, whatever token came
    found = await services.call(request, "notify", "wechat_session", code=body.code,
                                phone_code=body.phone_code if body.consent else None, consent=body.consent)
    member_id = found.get("member_id")
    if member_id is None:
        if found.get("phone") is None:
            raise ApiError(409, "wechat_not_linked", "this WeChat user is not linked to a member: send phone_code "
                                                     "with consent=true to link by phone", field="phone_code")
        holder = await services.call(request, "members", "lookup_phone", phone=found["phone"])
        member_id = holder.get("member_id")
        if member_id is None:
            await auditor.record(request, "member_login.wechat_not_a_member", "denied")
            raise ApiError(404, "not_a_member", "no member has this phone; register first", field="phone_code")
        await services.call(request, "notify", "wechat_link", openid=found["openid"], member_id=member_id,
                            unionid=found.get("unionid"))
        await auditor.record(request, "member.wechat_linked", "ok", object_type="member", object_id=member_id)
    await auditor.record(request, "member_login.wechat", "ok", object_type="member", object_id=member_id)
    return await member_tokens(request, member_id)
