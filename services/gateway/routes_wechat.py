"""/v1/auth/wechat: a member logs in from the WeChat mini-program with wx.login's code. notify asks
WeChat (code2Session) and knows which member an openid is linked to; an unlinked openid is linked by
phone only when the member agrees (getPhoneNumber's code and consent=true), to the member holding that
phone. The answer is a member token, as the one-time-code login gives.

/v1/members/me/wechat...: the member links the official account (web authorisation) or unlinks WeChat; the
official account's XML push (follows, template-message results) comes to /v1/notify/wechat/official-account/push."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from services.gateway.errors import ApiError
from services.gateway.routes_auth import TokenOut, member_tokens
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

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


# ---- the official account (公众号): a member links it; it pushes follows and template-message results ------
class OfficialAccountLinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=128, description="The `code` WeChat appended to our page's URL after "
                                                                "connect/oauth2/authorize (scope snsapi_base)")
    consent: bool = Field(description="The member agreed to link this WeChat user to their membership; "
                                      "false is refused (422) and nothing is asked of WeChat")


class OfficialAccountLinkOut(BaseModel):
    member_id: str
    app_id: str = Field(description="The official account's app id")
    following: bool = Field(description="Whether the member follows the official account now: template "
                                        "messages reach followers only")
    linked_at: str


class WechatUnlinkOut(BaseModel):
    unlinked: int = Field(description="How many WeChat openids (mini-program, official account) were forgotten")


@router.post("/members/me/wechat/official-account", response_model=OfficialAccountLinkOut, tags=["notify"],
             summary="The member links the official account they opened our page in (web authorisation)",
             responses={422: {"description": "consent is not true, or the code is invalid, used or expired (or a "
                                             "snapshot-page user's)"},
                        503: {"description": "The official account is not configured, or WeChat did not answer"}})
async def link_official_account(body: OfficialAccountLinkBody, request: Request,
                                caller: Principal = allow(member=True)) -> Any:
    if body.consent is not True:  # refused here too: nothing goes to notify or WeChat without it
        raise ApiError(422, "invalid_input", "the member must agree (consent=true) to link WeChat", field="consent")
    linked = await request.app.state.services.call(request, "notify", "wechat_oa_link", code=body.code, consent=True)
    request.state.audited = True  # a refusal above is audited by the guard with its status
    await request.app.state.auditor.record(request, "member.wechat_linked", "ok", object_type="member",
                                           object_id=caller.member_id, details={"app": "official_account"})
    return linked


@router.delete("/members/me/wechat", response_model=WechatUnlinkOut, tags=["notify"],
               summary="The member withdraws their consent: every WeChat link of theirs is forgotten",
               description="WeChat messages stop at once (they are suppressed, `no_address`), and the mini-program "
                           "login asks for the phone and consent again.")
async def unlink_wechat(request: Request, caller: Principal = allow(member=True)) -> Any:
    answer = await request.app.state.services.call(request, "notify", "wechat_unlink")
    request.state.audited = True
    await request.app.state.auditor.record(request, "member.wechat_unlinked", "ok", object_type="member",
                                           object_id=caller.member_id, details=answer)
    return answer


OA_PUSH = "/notify/wechat/official-account/push"


@router.get(OA_PUSH, response_class=PlainTextResponse, tags=["notify"],
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}, "example": "echostr-value"}}},
                       403: {"description": "Bad or missing signature"}},
            summary="WeChat checks the official account's server URL (echoes echostr when the signature is right)",
            description="As for the mini-program's push URL, signed with NOTIFY_WECHAT_OA_PUSH_TOKEN.")
async def wechat_oa_push_check(request: Request, signature: str = Query(max_length=64),
                               timestamp: str = Query(max_length=20), nonce: str = Query(max_length=64),
                               echostr: str = Query(max_length=200)) -> PlainTextResponse:
    await request.app.state.services.call(request, "notify", "wechat_oa_push", timestamp=timestamp, nonce=nonce,
                                          signature=signature)
    return PlainTextResponse(echostr)


@router.post(OA_PUSH, response_class=PlainTextResponse, tags=["notify"],
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}, "example": "success"}}},
                        403: {"description": "Bad or missing signature"},
                        422: {"description": "Not a plain-mode XML push (field body)"},
                        503: {"description": "The official account is not configured"}},
             summary="The official account pushes events (XML, plain mode): subscribe, unsubscribe, "
                     "TEMPLATESENDJOBFINISH",
             description="The body is WeChat's XML (Content-Type text/xml, up to 16 KiB), e.g. "
                         "`<xml><FromUserName><![CDATA[o-openid]]></FromUserName><MsgType><![CDATA[event]]>"
                         "</MsgType><Event><![CDATA[subscribe]]></Event></xml>`, signed as for the URL check. "
                         "A follow is kept and linked to the member whose consented mini-program link has the "
                         "follower's unionid; TEMPLATESENDJOBFINISH marks the template message delivered "
                         "(`success`) or failed. Answers `success`; other pushes are ignored. "
                         "See docs/channels-china.md.")
async def wechat_oa_push(request: Request, signature: str = Query(max_length=64),
                         timestamp: str = Query(max_length=20), nonce: str = Query(max_length=64)) -> PlainTextResponse:
    raw = await request.body()
    await request.app.state.services.call(request, "notify", "wechat_oa_push", timestamp=timestamp, nonce=nonce,
                                          signature=signature, body=raw.decode("utf-8", "replace"))
    return PlainTextResponse("success")
