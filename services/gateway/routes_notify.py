"""/v1/notify routes: templates and previews (admin, marketer), the delivery log (admin, marketer, auditor,
manager; a member reads their own), the dead-letter list and replay (admin), and providers' signed
delivery receipts. Each route checks who may call it, makes one RPC to notify and relays the answer
(the service checks the caller again)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from contracts.notify import Channel, Locale, Message, Preview, PreviewOut, TemplateOut
from services.gateway.security.policy import allow, deny
from services.gateway.security.principal import Principal

router = APIRouter(tags=["notify"])

EDITORS = ("admin", "marketer")
LOG_READERS = ("admin", "marketer", "auditor", "manager")
Key = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.]*$")]
Status = Literal["queued", "sending", "sent", "delivered", "failed", "suppressed"]


class TemplateBody(BaseModel):
    subject: str | None = Field(default=None, max_length=200, description="Email and push only")
    body: str = Field(min_length=1, max_length=4000, description="Text with {{variable}} placeholders")


class DeadLetters(BaseModel):
    depth: int = Field(description="Messages in the dead-letter list")
    items: list[Message]


async def _notify(request: Request, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, "notify", method, **kwargs)


# ---- templates ------------------------------------------------------------------------------------------
@router.get("/notify/templates", response_model=list[TemplateOut], summary="Message templates")
async def list_templates(request: Request, key: str | None = Query(default=None, max_length=64),
                         caller: Principal = allow(*EDITORS)) -> Any:
    return await _notify(request, "list_templates", key=key)


@router.get("/notify/templates/{key}/{channel}/{locale}", response_model=TemplateOut, summary="One template")
async def get_template(key: Key, channel: Channel, locale: Locale, request: Request,
                       caller: Principal = allow(*EDITORS)) -> Any:
    return await _notify(request, "get_template", key=key, channel=channel, locale=locale)


@router.put("/notify/templates/{key}/{channel}/{locale}", response_model=TemplateOut,
            summary="Create or change a template",
            description="A variable the kind of message never has (e.g. {{points}} in a login code) is refused "
                        "with 422 naming it, so a customer never gets a blank. Keys: birthday, points.expiring, "
                        "tier.changed, login_code, campaign.<name>.")
async def save_template(key: Key, channel: Channel, locale: Locale, body: TemplateBody, request: Request,
                        caller: Principal = allow(*EDITORS)) -> Any:
    return await _notify(request, "save_template", key=key, channel=channel, locale=locale, subject=body.subject,
                         body=body.body)


@router.post("/notify/templates/preview", response_model=PreviewOut, summary="Render a template with sample values",
             description="Renders the saved template, or the subject/body given (a draft), with `variables`; a "
                         "variable left out or unknown is refused with 422 naming it.")
async def preview(body: Preview, request: Request, caller: Principal = allow(*EDITORS)) -> Any:
    return await _notify(request, "preview", **body.model_dump(mode="json"))


# ---- the delivery log ---------------------------------------------------------------------------------------
@router.get("/notify/messages", response_model=list[Message], summary="The delivery log, newest first",
            description="By member and/or campaign; `before` (created_at of the last row seen) pages back.")
async def list_messages(request: Request, member_id: uuid.UUID | None = None,
                        campaign_id: str | None = Query(default=None, max_length=64),
                        status: Status | None = None, before: datetime | None = None,
                        limit: int = Query(default=50, ge=1, le=200),
                        caller: Principal = allow(*LOG_READERS)) -> Any:
    return await _notify(request, "messages", member_id=str(member_id) if member_id else None,
                         campaign_id=campaign_id, status=status,
                         before=before.isoformat() if before else None, limit=limit)


@router.get("/notify/messages/{message_id}", response_model=Message,
            summary="One message with every step (queued, deferred, retries, sent, delivered ...)")
async def get_message(message_id: uuid.UUID, request: Request, caller: Principal = allow(*LOG_READERS)) -> Any:
    return await _notify(request, "message", message_id=str(message_id))


@router.get("/members/{member_id}/messages", response_model=list[Message],
            summary="The messages sent to a member (members: their own)")
async def member_messages(member_id: uuid.UUID, request: Request, limit: int = Query(default=50, ge=1, le=200),
                          caller: Principal = allow(*LOG_READERS, member=True)) -> Any:
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member sees only their own messages", member_id=str(member_id))
    return await _notify(request, "messages", member_id=str(member_id), limit=limit)


# ---- the dead-letter list ---------------------------------------------------------------------------------
@router.get("/notify/dead-letters", response_model=DeadLetters, summary="Messages that used up their attempts")
async def dead_letters(request: Request, before: datetime | None = None, limit: int = Query(default=50, ge=1, le=200),
                       caller: Principal = allow("admin")) -> Any:
    return await _notify(request, "dead_letters", before=before.isoformat() if before else None, limit=limit)


@router.post("/notify/dead-letters/{message_id}/replay", response_model=Message,
             summary="Send a dead-lettered message again (fresh attempts)",
             description="Safe to repeat: a message no longer in the list is answered as it is.")
async def replay(message_id: uuid.UUID, request: Request, caller: Principal = allow("admin")) -> Any:
    return await _notify(request, "replay", message_id=str(message_id))


# ---- provider receipts ---------------------------------------------------------------------------------------
@router.post("/notify/receipts/{channel}", response_model=Message,
             summary="A provider reports delivery (HMAC-signed like our requests to it)",
             description="Body `{\"provider_message_id\": ..., \"status\": \"delivered\"|\"failed\"}`, signed with "
                         "the channel's provider secret: X-Loyalty-Timestamp (unix seconds, within 5 minutes) and "
                         "X-Loyalty-Signature `sha256=` HMAC-SHA256 of `timestamp.body`. No bearer token needed.")
async def provider_receipt(channel: Literal["sms", "push", "webhook"], request: Request) -> Any:
    raw = await request.body()
    return await _notify(request, "signed_receipt", channel=channel,
                         timestamp=request.headers.get("x-loyalty-timestamp", ""),
                         signature=request.headers.get("x-loyalty-signature", ""), body=raw.decode("utf-8", "replace"))
