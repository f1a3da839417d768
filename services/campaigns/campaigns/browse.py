"""Reading campaigns: pages of campaigns and of one campaign's state changes."""
from __future__ import annotations

from typing import Any

from contracts import paging
from contracts.access import parse_id
from contracts.campaigns import HistoryEntry
from contracts.errors import InvalidInput
from service_runtime.db import Tx
from services.campaigns.campaigns import repo, rules
from services.campaigns.campaigns.views import campaign, campaign_out


def page(tx: Tx, status: str | None, limit: int, after: list[str] | None) -> dict[str, Any]:
    """A page of campaigns, newest first: {"items", "next"} (``next``: pass as ``after``)."""
    if status is not None and status not in rules.STATES:
        raise InvalidInput(f"one of {', '.join(rules.STATES)}", "status")
    limit = paging.check_limit(limit)
    start = paging.position(after, paging.CAMPAIGN_POSITION)
    rows = repo.listing(tx, status, limit + 1, start)
    rows, more = paging.cut(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])
    return {"items": [campaign_out(r) for r in rows], "next": more}


def history(tx: Tx, campaign_id: str, limit: int, after: int | None) -> dict[str, Any]:
    """A page of the campaign's state changes, oldest first: {"items", "next"}."""
    limit = paging.check_limit(limit)
    start = paging.position(after, paging.HISTORY_POSITION)
    campaign(tx, campaign_id)
    rows = repo.history_of(tx, parse_id(campaign_id, "campaign_id"), limit + 1, None if start is None else start[0])
    rows, more = paging.cut(rows, limit, lambda r: int(r.id))  # type: ignore[arg-type,return-value]
    return {"items": [HistoryEntry(from_status=r.from_status, to_status=r.to_status, actor=r.actor, note=r.note,
                                   at=r.at).model_dump(mode="json") for r in rows], "next": more}
