"""/v1/audit: auditors read the audit log and check its chain."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from services.gateway import audit
from services.gateway.pagination import Page, PageParams, page, page_params
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal
from services.gateway.validation import query_time

router = APIRouter(tags=["audit"])


class AuditEntryOut(BaseModel):
    id: int
    occurred_at: datetime
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    action: str
    object_type: str | None
    object_id: str | None
    store: str | None
    outcome: str
    request_id: str | None
    client_ip: str | None
    details: dict[str, Any]
    seq: int | None = Field(description="Place in the hash chain; null for an entry not sealed yet (< 1 s)")
    hash: str | None


class VerificationOut(BaseModel):
    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str | None


@router.get("/audit", response_model=Page[AuditEntryOut], summary="Audit entries, newest first, with filters")
async def list_audit(request: Request, paging: PageParams = Depends(page_params),
                     actor_id: str | None = Query(None, max_length=100),
                     action: str | None = Query(None, max_length=100),
                     object_id: str | None = Query(None, max_length=100),
                     outcome: str | None = Query(None, max_length=50),
                     since: datetime | None = None, until: datetime | None = None,
                     caller: Principal = allow("auditor", "admin")) -> Page[AuditEntryOut]:
    position = paging.position(int)
    rows = await request.app.state.db.run(audit.query, before_id=position, limit=paging.limit + 1,
                                          actor_id=actor_id, action=action, object_id=object_id, outcome=outcome,
                                          since=query_time(since, "since"),
                                          until=query_time(until, "until"))
    items, cursor = page(rows, paging.limit, lambda r: r["id"])
    return Page[AuditEntryOut](items=[AuditEntryOut(**dict(r)) for r in items], next_cursor=cursor)


@router.get("/audit/verify", response_model=VerificationOut, summary="Recompute the hash chain")
async def verify_audit(request: Request, caller: Principal = allow("auditor", "admin")) -> VerificationOut:
    result = await request.app.state.db.run(audit.verify)
    return VerificationOut(**result.__dict__)
