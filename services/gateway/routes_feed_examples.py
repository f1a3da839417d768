"""Written examples of the feed and webhook routes (merged into api_examples.EXAMPLES by operationId)."""
from __future__ import annotations

from typing import Any

_MEMBER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
_HOOK = "6e1b1f0a-2b7c-4d3e-9f10-5a6b7c8d9e0f"
_ITEM = {"cursor": "f1.MTIzNDU", "event_id": "0c9a7d4e-8b1f-4a2c-9d3e-5f6a7b8c9d0e", "type": "points.accrued",
         "version": 1, "member_id": _MEMBER, "occurred_at": "2026-12-01T10:15:00Z",
         "recorded_at": "2026-12-01T10:15:01Z",
         "data": {"member_id": _MEMBER, "store": "SH-001", "source": "sale", "reference": "T-20261201-000123",
                  "points": 118, "amount": "128.50", "currency": "CNY", "occurred_at": "2026-12-01T10:15:00Z",
                  "balance": 1318, "campaign_bonus": {}, "point_value": "0.01"}}
_WEBHOOK = {"id": _HOOK, "url": "https://erp.example.com/loyalty/hooks", "types": ["points.accrued", "tier.changed"],
            "description": "ERP customer balances", "cursor": "f1.MTIzNDU", "created_at": "2026-12-01T09:00:00Z",
            "pending": 0, "dead": 0}

FEED_EXAMPLES: dict[str, dict[str, Any]] = {
    "read_feed": {"response": {"items": [_ITEM], "next_cursor": "f1.MTIzNDU", "has_more": False}},
    "create_webhook": {"request": {"url": _WEBHOOK["url"], "types": _WEBHOOK["types"],
                                   "description": _WEBHOOK["description"]},
                       "response": {**_WEBHOOK, "secret": "whsec_q3Jm2b8vXo0yK1lR4tHs7nWc9eZ5aD6gF2pU0iL8kT4"}},
    "list_webhooks": {"response": {"items": [_WEBHOOK], "next_cursor": None}},
    "get_webhook": {"response": _WEBHOOK},
    "list_webhook_deliveries": {"response": {"items": [{
        "id": 4711, "webhook_id": _HOOK, "cursor": "f1.MTIzNDU", "event_id": _ITEM["event_id"],
        "type": "points.accrued", "member_id": _MEMBER, "status": "dead", "attempts": 10, "last_error": "HTTP 500",
        "created_at": "2026-12-01T10:15:01Z", "finished_at": "2026-12-01T10:32:05Z"}], "next_cursor": None}},
    "replay_webhook": {"request": {"after": "f1.MTIzNDQ"}, "response": {**_WEBHOOK, "pending": 1}},
}
