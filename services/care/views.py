"""Rows to the contract's shapes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from services.care import domain


def ticket(row: dict[str, Any], now: datetime, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "ticket_id": row["id"], "member_id": row["member_id"], "channel": row["channel"],
        "category": row["category"], "severity": row["severity"], "status": row["status"], "text": row["text"],
        "store": row["store"], "sale_reference": row["sale_reference"], "coupon_code": row["coupon_code"],
        "attachments": list(row["attachments"] or []), "assignee": row["assignee"],
        "assigned_store": row["assigned_store"], "due_at": row["due_at"].isoformat(),
        "overdue": domain.overdue(row["status"], row["due_at"], now), "goodwill_points": row["goodwill_points"],
        "rating": row["rating"], "rating_comment": row["rating_comment"], "opened_by": row["opened_by"],
        "created_at": row["created_at"].isoformat(), "updated_at": row["updated_at"].isoformat(),
        "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None,
        "closed_at": row["closed_at"].isoformat() if row["closed_at"] else None, "version": row["version"],
        "history": None if history is None else [_entry(h) for h in history],
    }


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    return {"at": row["at"].isoformat(), "actor_kind": row["actor_kind"], "actor_id": row["actor_id"],
            "action": row["action"], "from_status": row["from_status"], "to_status": row["to_status"],
            "note": row["note"], "detail": row["detail"]}

