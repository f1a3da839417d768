"""/v1/notify routes: templates and previews (admin, marketer), the delivery log (admin, marketer, auditor,
manager; a member reads their own), the dead-letter list and replay (admin), and providers' signed
delivery receipts. Each route checks who may call it, makes one RPC to notify and relays the answer
(the service checks the caller again)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from contracts import access
from contracts.notify import Channel, Locale, Message, Preview, PreviewOut, TemplateOut
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, page_by_time, page_of_all, page_params
from services.gateway.security.policy import allow, deny
from services.gateway.security.principal import Principal

router = APIRouter(tags=["notify"])

EDITORS = access.MARKETING
LOG_READERS = access.CHAIN_READERS
Key = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
Status = Literal["queued", "sending", "sent", "delivered", "failed", "suppressed"]


class TemplateBody(BaseModel):
    subject: str | None = Field(default=None, max_length=200, description="Email and push only")
    body: str = Field(min_length=1, max_length=4000, description="Text with {{variable}} placeholders")


class DeadLetters(Page[Message]):
    depth: int = Field(description="Messages in the dead-letter list")


_SERVICE_MAX = 200  # notify answers at most this many messages per call


def _before(paging: PageParams, before: datetime | None) -> str | None:
    """Where a page of messages starts: the cursor's time, else the ``before`` filter."""
    position = paging.position(str)
    if position is not None:
        try:
            return datetime.fromisoformat(position).isoformat()
        except ValueError:
            raise ApiError(422, "invalid_input", "not a cursor this API gave out", field="cursor") from None
    return before.isoformat() if before else None


async def _messages_page(request: Request, paging: PageParams, before: datetime | None, method: str = "messages",
                         **filters: Any) -> tuple[Any, list[Any], str | None]:
    asked = min(paging.limit + 1, _SERVICE_MAX)
    answer = await _notify(request, method, before=_before(paging, before), limit=asked, **filters)
    rows = answer["items"] if isinstance(answer, dict) else answer
    items, cursor = page_by_time(rows, paging.limit, asked, lambda m: m["created_at"])
    return answer, items, cursor


async def _notify(request: Request, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, "notify", method, **kwargs)


# ---- templates ------------------------------------------------------------------------------------------
@router.get("/notify/templates", response_model=Page[TemplateOut], summary="Message templates",
            description="By key, channel and locale.")
async def list_message_templates(request: Request, key: str | None = Query(default=None, max_length=64),
                         paging: PageParams = Depends(page_params), caller: Principal = allow(*EDITORS)) -> Any:
    items, cursor = page_of_all(await _notify(request, "list_templates", key=key), paging)
    return {"items": items, "next_cursor": cursor}


@router.get("/notify/templates/{key}/{channel}/{locale}", response_model=TemplateOut, summary="One template")
async def get_message_template(key: Key, channel: Channel, locale: Locale, request: Request,
                       caller: Principal = allow(*EDITORS)) -> Any:
    return await _notify(request, "get_template", key=key, channel=channel, locale=locale)


@router.put("/notify/templates/{key}/{channel}/{locale}", response_model=TemplateOut,
            summary="Create or change a template",
            description="A variable the kind of message never has (e.g. {{points}} in a login code) is refused "
                        "with 422 naming it, so a customer never gets a blank. Keys: birthday, points.expiring, "
                        "tier.changed, login_code, campaign.<name>.")
async def save_message_template(key: Key, channel: Channel, locale: Locale, body: TemplateBody, request: Request,
                        caller: Principal = allow(*EDITORS)) -> Any:
    return await _notify(request, "save_template", key=key, channel=channel, locale=locale, subject=body.subject,
                         body=body.body)


@router.post("/notify/templates/preview", response_model=PreviewOut, summary="Render a template with sample values",
             description="Renders the saved template, or the subject/body given (a draft), with `variables`; a "
                         "variable left out or unknown is refused with 422 naming it.")
async def preview(body: Preview, request: Request, caller: Principal = allow(*EDITORS)) -> Any:
    return await _notify(request, "preview", **body.model_dump(mode="json"))


# ---- the delivery log ---------------------------------------------------------------------------------------
@router.get("/notify/messages", response_model=Page[Message], summary="The delivery log, newest first",
            description="By member, campaign and/or status; `before` starts at a time, `cursor` pages back.")
async def list_messages(request: Request, member_id: uuid.UUID | None = None,
                        campaign_id: str | None = Query(default=None, max_length=64),
                        status: Status | None = None, before: datetime | None = None,
                        paging: PageParams = Depends(page_params),
                        caller: Principal = allow(*LOG_READERS)) -> Any:
    _, items, cursor = await _messages_page(request, paging, before, member_id=str(member_id) if member_id else None,
                                            campaign_id=campaign_id, status=status)
    return {"items": items, "next_cursor": cursor}


@router.get("/notify/messages/{message_id}", response_model=Message,
            summary="One message with every step (queued, deferred, retries, sent, delivered ...)")
async def get_message(message_id: uuid.UUID, request: Request, caller: Principal = allow(*LOG_READERS)) -> Any:
    return await _notify(request, "message", message_id=str(message_id))


@router.get("/members/{member_id}/messages", response_model=Page[Message],
            summary="The messages sent to a member (members: their own)")
async def member_messages(member_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                          caller: Principal = allow(*LOG_READERS, member=True)) -> Any:
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member sees only their own messages", member_id=str(member_id))
    _, items, cursor = await _messages_page(request, paging, None, member_id=str(member_id))
    return {"items": items, "next_cursor": cursor}


# ---- the dead-letter list ---------------------------------------------------------------------------------
@router.get("/notify/dead-letters", response_model=DeadLetters, summary="Messages that used up their attempts")
async def dead_letters(request: Request, before: datetime | None = None, paging: PageParams = Depends(page_params),
                       caller: Principal = allow("admin")) -> Any:
    answer, items, cursor = await _messages_page(request, paging, before, method="dead_letters")
    return {"depth": answer["depth"], "items": items, "next_cursor": cursor}


@router.post("/notify/dead-letters/{message_id}/replay", response_model=Message,
             summary="Send a dead-lettered message again (fresh attempts)",
             description="Safe to repeat: a message no longer in the list is answered as it is.")
async def replay(message_id: uuid.UUID, request: Request, caller: Principal = allow("admin")) -> Any:
    return await _notify(request, "replay", message_id=str(message_id))


# ---- provider receipts ---------------------------------------------------------------------------------------
@router.post("/notify/receipts/{channel}", response_model=Message,
             responses={403: {"description": "Bad or missing receipt signature"}},
             summary="A provider reports delivery (HMAC-signed like our requests to it)",
             description="Body `{\"provider_message_id\": ..., \"status\": \"delivered\"|\"failed\"}`, signed with "
                         "the channel's provider secret: X-Loyalty-Timestamp (unix seconds, within 5 minutes) and "
                         "X-Loyalty-Signature `sha256=` HMAC-SHA256 of `timestamp.body`. No bearer token needed.")
async def provider_receipt(channel: Literal["sms", "push", "webhook"], request: Request) -> Any:
    raw = await request.body()
    return await _notify(request, "signed_receipt", channel=channel,
                         timestamp=request.headers.get("x-loyalty-timestamp", ""),
                         signature=request.headers.get("x-loyalty-signature", ""), body=raw.decode("utf-8", "replace"))


class VendorAck(BaseModel):
    """What the vendor expects back (Alibaba: {"code": 0, "msg": ...}; Tencent: {"result": 0, "errmsg": "OK"})."""

    model_config = {"extra": "allow"}


@router.post("/notify/receipts/sms/{vendor}", response_model=VendorAck,
             responses={403: {"description": "Bad or missing callback token"}},
             summary="An SMS vendor pushes delivery reports (Alibaba SmsReport, Tencent status callback)",
             description="The vendor's own JSON list, posted to the callback URL configured in its console, which "
                         "carries `?token=` (NOTIFY_SMS_RECEIPT_TOKEN): neither vendor signs its reports. Answers "
                         "the acknowledgement the vendor expects; reports of unknown messages are acknowledged and "
                         "dropped. See docs/channels-china.md.")
async def vendor_receipts(vendor: Literal["aliyun", "tencent"], request: Request,
                          token: str = Query(default="", max_length=200)) -> Any:
    raw = await request.body()
    answer = await _notify(request, "vendor_receipts", vendor=vendor, token=token,
                           body=raw.decode("utf-8", "replace"))
    return answer["ack"]


@router.get("/notify/wechat/push", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}, "example": "echostr-value"}}},
                       403: {"description": "Bad or missing signature"}},
            summary="WeChat checks the message push URL (echoes echostr when the signature is right)",
            description="Query `signature`, `timestamp`, `nonce`, `echostr` as WeChat sends them: the signature "
                        "is SHA-1 of the sorted NOTIFY_WECHAT_PUSH_TOKEN, timestamp and nonce.")
async def wechat_push_check(request: Request, signature: str = Query(max_length=64),
                            timestamp: str = Query(max_length=20), nonce: str = Query(max_length=64),
                            echostr: str = Query(max_length=200)) -> PlainTextResponse:
    await _notify(request, "wechat_push", timestamp=timestamp, nonce=nonce, signature=signature)
    return PlainTextResponse(echostr)


@router.post("/notify/wechat/push", response_class=PlainTextResponse,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}, "example": "success"}}},
                        403: {"description": "Bad or missing signature"}},
             summary="WeChat pushes subscribe-message results (subscribe_msg_sent_event, JSON, plain mode)",
             description="Signed as for the URL check; delivered on ErrorCode 0, failed otherwise. Answers "
                         "`success`. See docs/channels-china.md.")
async def wechat_push(request: Request, signature: str = Query(max_length=64), timestamp: str = Query(max_length=20),
                      nonce: str = Query(max_length=64)) -> PlainTextResponse:
    raw = await request.body()
    await _notify(request, "wechat_push", timestamp=timestamp, nonce=nonce, signature=signature,
                  body=raw.decode("utf-8", "replace"))
    return PlainTextResponse("success")
