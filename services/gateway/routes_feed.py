"""/v1/feed and /v1/webhooks: the outbound change feed (member, points and tier events in one order,
read by cursor) and webhook subscriptions pushing it, owned by the feed service. Admins and ERP keys
(``import:write``, never on a POS key) only: the feed carries every member's changes. docs/feed.md
is the integrator's guide (cursors, signatures, retries, replay)."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response

from contracts.feed import DeliveryOut, FeedPage, Replay, WebhookCreated, WebhookIn, WebhookOut
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, page, page_of_all, page_params
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal

router = APIRouter(tags=["feed"])

FEED = allow("admin", scopes=["import:write"])  # admins; ERP keys
_GONE: dict[int | str, dict[str, Any]] = {410: {"description": "The cursor is older than the feed's retention: "
                                                               "events after it were deleted"}}
Cursor = Annotated[str | None, Query(max_length=64, description="Resume after this cursor (an item's `cursor` or a "
                                                                 "page's `next_cursor`); none: the oldest retained")]


async def _feed(request: Request, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, "feed", method, **kwargs)


async def _audit(request: Request, action: str, webhook_id: str, **details: Any) -> None:
    await request.app.state.auditor.record(request, action, "ok", object_type="webhook", object_id=webhook_id,
                                           details=details or None)


@router.get("/feed", response_model=FeedPage, summary="The change feed, in one order, after a cursor",
            description="Member, points and tier events in the one order every reader sees. Keep `next_cursor` and "
                        "pass it as `after` next time: nothing is skipped or repeated. `has_more`: ask again at once. "
                        "Filtered by `types` (comma separated), the cursor still moves past what is left out.",
            responses=_GONE)
async def read_feed(request: Request, after: Cursor = None,
                    cursor: Annotated[str | None, Query(max_length=64, description="The same as `after`")] = None,
                    types: Annotated[str | None, Query(max_length=400, examples=["points.accrued,tier.changed"],
                                                       description="Event types, comma separated")] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100, caller: Principal = FEED) -> Any:
    if after is not None and cursor is not None and after != cursor:
        raise ApiError(422, "invalid_input", "give the cursor once, as `after`", field="after")
    wanted = [t.strip() for t in types.split(",") if t.strip()] if types else None
    return await _feed(request, "read", after=after or cursor, types=wanted, limit=limit)


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, summary="Subscribe a URL to feed events",
             description="Deliveries are POSTed one event at a time, signed with the `secret` answered here "
                         "(once: store it). Starts with the next event, or after `after`.",
             responses=_GONE)
async def create_webhook(body: WebhookIn, request: Request, caller: Principal = FEED) -> Any:
    created: dict[str, Any] = await _feed(request, "create_webhook", **body.model_dump(mode="json"))
    await _audit(request, "webhook.created", created["id"], url=created["url"], types=created["types"])
    return created


@router.get("/webhooks", response_model=Page[WebhookOut], summary="Webhook subscriptions")
async def list_webhooks(request: Request, paging: PageParams = Depends(page_params), caller: Principal = FEED) -> Any:
    items, cursor = page_of_all(await _feed(request, "list_webhooks"), paging)
    return {"items": items, "next_cursor": cursor}


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, summary="One subscription, with its backlog")
async def get_webhook(webhook_id: uuid.UUID, request: Request, caller: Principal = FEED) -> Any:
    return await _feed(request, "get_webhook", webhook_id=str(webhook_id))


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="End a subscription (pending deliveries dropped)")
async def delete_webhook(webhook_id: uuid.UUID, request: Request, caller: Principal = FEED) -> Response:
    await _feed(request, "delete_webhook", webhook_id=str(webhook_id))
    await _audit(request, "webhook.deleted", str(webhook_id))
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=Page[DeliveryOut],
            summary="A subscription's deliveries, newest first",
            description="`status=dead`: the events given up after the last try (replay them with /replay).")
async def list_webhook_deliveries(webhook_id: uuid.UUID, request: Request,
                                  status: Literal["pending", "delivered", "dead", "superseded"] | None = None,
                                  paging: PageParams = Depends(page_params), caller: Principal = FEED) -> Any:
    rows = await _feed(request, "deliveries", webhook_id=str(webhook_id), status=status,
                       after=paging.position(int), limit=paging.limit + 1)
    items, cursor = page(rows, paging.limit, lambda row: row["id"])
    return {"items": items, "next_cursor": cursor}


@router.post("/webhooks/{webhook_id}/replay", response_model=WebhookOut, summary="Deliver again from a cursor",
             description="Every subscribed event after `after` is delivered again, in feed order (what was still "
                         "pending is superseded). Receivers see events again: they dedupe on the event id.",
             responses=_GONE)
async def replay_webhook(webhook_id: uuid.UUID, request: Request, body: Replay = Body(),
                         caller: Principal = FEED) -> Any:
    answer = await _feed(request, "replay", webhook_id=str(webhook_id), **body.model_dump(mode="json"))
    await _audit(request, "webhook.replayed", str(webhook_id), after=body.after)
    return answer
