"""/v1/segments and /v1/campaigns: rule segments (preview, snapshot, id export, coupons to a
segment), the RFM recompute job, campaigns (create, state changes, budget, history, results).

Marketers and admins manage; auditors read; store managers read results for their own stores
(the service keeps only their stores' rows). Each route makes one RPC to the campaigns service,
which checks the caller again itself.
"""
from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts import access
from contracts.campaigns import (
    BREAKDOWN_FIELDS,
    Budget,
    CampaignIn,
    CampaignOut,
    CampaignResults,
    HistoryEntry,
    RfmJobOut,
    SegmentBreakdown,
    SegmentIn,
    SegmentOut,
    SegmentPreview,
    SnapshotOut,
)
from contracts.paging import CAMPAIGN_POSITION, HISTORY_POSITION, MEMBER_ID_POSITION, SEGMENT_POSITION
from services.gateway.pagination import Page, PageParams, make_cursor, page_params
from services.gateway.security.policy import allow
from services.gateway.security.principal import Principal
from services.gateway.service_pages import answer, position

router = APIRouter(tags=["segments and campaigns"])

MANAGE = access.MARKETING
READ = access.MARKETING_READERS
SNAPSHOT_TIMEOUT = 120.0  # a snapshot or export of a large segment is one big query
RFM_TIMEOUT = 30.0


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleBody(_Body):
    rule: dict[str, Any]
    sample: int = Field(default=20, ge=0, le=100)


Breakdown = Literal["rfm_group", "abcd", "tier", "lifecycle_class"]
assert set(Breakdown.__args__) == set(BREAKDOWN_FIELDS)  # type: ignore[attr-defined]  # one list, two spellings


class BreakdownBody(_Body):
    rule: dict[str, Any] | None = Field(default=None, description="The rule being built; none: every live member")
    by: list[Breakdown] = Field(default=["rfm_group", "abcd"], min_length=1, max_length=4)


class SnapshotBody(_Body):
    snapshot_id: uuid.UUID | None = Field(default=None, description="Client-chosen id for a safe retry")


class SegmentCoupons(_Body):
    template_id: str = Field(min_length=1, max_length=64)
    request_id: uuid.UUID | None = Field(default=None, description="Client-chosen id: a retry returns the first job")


class IssueJob(_Body):
    job_id: str
    snapshot_id: str
    members: int
    replayed: bool


class RfmParams(_Body):
    window_days: int = Field(default=365, ge=1, le=3660)
    abcd_cuts: list[str] = Field(default=["0.80", "0.95", "0.99"], min_length=3, max_length=3,
                                 description="Revenue shares closing A, B and C; D is the rest")
    new_days: int = Field(default=30, ge=1, le=3660)
    active_days: int = Field(default=90, ge=1, le=3660)
    recently_lapsed_days: int = Field(default=180, ge=1, le=3660)
    lapsed_days: int = Field(default=365, ge=1, le=3660)


class StatusChange(_Body):
    status: Literal["draft", "scheduled", "running", "paused", "finished"]
    note: str | None = Field(default=None, max_length=500)


async def _campaigns(request: Request, method: str, timeout: float | None = None, **kwargs: Any) -> Any:
    extra = {} if timeout is None else {"timeout": timeout}
    return await request.app.state.services.call(request, "campaigns", method, **kwargs, **extra)


async def _audit(request: Request, action: str, object_type: str, object_id: str, **details: Any) -> None:
    await request.app.state.auditor.record(request, action, "ok", object_type=object_type, object_id=object_id,
                                           details=details)
    request.state.audited = True


# ---- segments -------------------------------------------------------------------------------------------
@router.post("/segments", status_code=201, response_model=SegmentOut, summary="Create a rule segment (audited)")
async def create_segment(body: SegmentIn, request: Request, caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "create_segment", **body.model_dump(mode="json"))
    await _audit(request, "campaigns.segment_created", "segment", result["segment_id"], name=body.name)
    return result


@router.get("/segments", response_model=Page[SegmentOut], summary="Segments, oldest first (paged)")
async def list_segments(request: Request, paging: PageParams = Depends(page_params),
                        caller: Principal = allow(*READ)) -> dict[str, Any]:
    return answer(await _campaigns(request, "list_segments", limit=paging.limit,
                                   after=position(paging, SEGMENT_POSITION)))


@router.post("/segments/preview", response_model=SegmentPreview,
             summary="Size and a sample of a rule before saving it (member ids and scores, no personal data)")
async def preview_rule(body: RuleBody, request: Request, caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "preview_rule", rule=body.rule, sample=body.sample,
                                              timeout=SNAPSHOT_TIMEOUT)
    return result


@router.post("/segments/breakdown", response_model=SegmentBreakdown,
             summary="Members of a rule (or of every live member) per RFM group, ABCD class or tier, for charts",
             description="Counts only (no member ids): one scan of campaigns' read model answers every field "
                         "asked for. Members not scored yet by the RFM job count under `null`.")
async def breakdown_rule(body: BreakdownBody, request: Request, caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "breakdown_rule", rule=body.rule, by=list(body.by),
                                              timeout=SNAPSHOT_TIMEOUT)
    return result


@router.post("/segments/rfm-jobs", status_code=202, response_model=RfmJobOut,
             summary="Recompute RFM scores, ABCD classes and lifecycle stages (a background job; audited)")
async def start_rfm(body: RfmParams, request: Request, caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "start_rfm", timeout=RFM_TIMEOUT, **body.model_dump())
    await _audit(request, "campaigns.rfm_started", "rfm_job", result["job_id"])
    return result


@router.get("/segments/rfm-jobs/{job_id}", response_model=RfmJobOut, summary="An RFM job and its progress")
async def rfm_job(job_id: uuid.UUID, request: Request, caller: Principal = allow(*READ)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "rfm_job", job_id=str(job_id))
    return result


@router.get("/segments/{segment_id}", response_model=SegmentOut, summary="A segment")
async def get_segment(segment_id: uuid.UUID, request: Request, caller: Principal = allow(*READ)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "get_segment", segment_id=str(segment_id))
    return result


@router.get("/segments/{segment_id}/preview", response_model=SegmentPreview, summary="A segment's size and sample")
async def preview_segment(segment_id: uuid.UUID, request: Request, sample: int = Query(default=20, ge=0, le=100),
                          caller: Principal = allow(*READ)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "preview_segment", segment_id=str(segment_id), sample=sample,
                                              timeout=SNAPSHOT_TIMEOUT)
    return result


@router.get("/segments/{segment_id}/breakdown", response_model=SegmentBreakdown,
            summary="A segment's live members per RFM group, ABCD class, tier or lifecycle class, for charts")
async def breakdown_segment(segment_id: uuid.UUID, request: Request,
                            by: list[Breakdown] = Query(default=["rfm_group", "abcd"], max_length=4),
                            caller: Principal = allow(*READ)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "breakdown_segment", segment_id=str(segment_id), by=list(by),
                                              timeout=SNAPSHOT_TIMEOUT)
    return result


@router.post("/segments/{segment_id}/snapshots", status_code=201, response_model=SnapshotOut,
             summary="Materialise the segment's members now (audited)")
async def snapshot_segment(segment_id: uuid.UUID, body: SnapshotBody, request: Request,
                           caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(
        request, "snapshot_segment", segment_id=str(segment_id),
        snapshot_id=None if body.snapshot_id is None else str(body.snapshot_id), timeout=SNAPSHOT_TIMEOUT)
    await _audit(request, "campaigns.segment_snapshot", "segment", str(segment_id), snapshot_id=result["snapshot_id"],
                 size=result["size"])
    return result


@router.get("/segments/{segment_id}/members", response_model=Page[str],
            summary="Export a segment's member ids (a snapshot's, or live), paged by cursor (audited)",
            description="`items` are member ids in id order; pass `next_cursor` as `cursor` for the next page "
                        "(null at the end). Pages are larger than other lists' (up to 100,000 ids).")
async def export_segment(segment_id: uuid.UUID, request: Request, snapshot_id: uuid.UUID | None = None,
                         cursor: str | None = Query(None, max_length=500,
                                                    description="next_cursor of the previous page"),
                         limit: int = Query(default=10_000, ge=1, le=100_000),
                         caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    after = position(PageParams(limit, cursor), MEMBER_ID_POSITION)
    result: dict[str, Any] = await _campaigns(
        request, "export_segment", segment_id=str(segment_id),
        snapshot_id=None if snapshot_id is None else str(snapshot_id), after=after, limit=limit,
        timeout=SNAPSHOT_TIMEOUT)
    await _audit(request, "campaigns.segment_exported", "segment", str(segment_id), count=len(result["member_ids"]))
    return {"items": result["member_ids"], "next_cursor": None if result["next"] is None
            else make_cursor(result["next"])}


@router.post("/segments/{segment_id}/coupons", status_code=202, response_model=IssueJob,
             summary="Issue one coupon of a template to every member of the segment (a background job; audited)")
async def segment_coupons(segment_id: uuid.UUID, body: SegmentCoupons, request: Request, response: Response,
                          caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(
        request, "issue_segment_coupons", segment_id=str(segment_id), template_id=body.template_id,
        request_id=None if body.request_id is None else str(body.request_id), timeout=SNAPSHOT_TIMEOUT)
    await _audit(request, "campaigns.segment_coupons", "segment", str(segment_id), template_id=body.template_id,
                 job_id=result["job_id"], members=result["members"])
    response.headers["Location"] = f"/v1/coupons/issue-jobs/{result['job_id']}"
    return result


# ---- campaigns ------------------------------------------------------------------------------------------
@router.post("/campaigns", status_code=201, response_model=CampaignOut, summary="Create a campaign (draft; audited)")
async def create_campaign(body: CampaignIn, request: Request, caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "create_campaign", **body.model_dump(mode="json"))
    await _audit(request, "campaigns.created", "campaign", result["campaign_id"], name=body.name, type=body.type)
    return result


@router.get("/campaigns", response_model=Page[CampaignOut], summary="Campaigns, newest first (paged)")
async def list_campaigns(request: Request, status: Literal["draft", "scheduled", "running", "paused",
                                                           "finished"] | None = None,
                         paging: PageParams = Depends(page_params),
                         caller: Principal = allow(*READ)) -> dict[str, Any]:
    return answer(await _campaigns(request, "list_campaigns", status=status, limit=paging.limit,
                                   after=position(paging, CAMPAIGN_POSITION)))


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut, summary="A campaign")
async def get_campaign(campaign_id: uuid.UUID, request: Request, caller: Principal = allow(*READ)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "get_campaign", campaign_id=str(campaign_id))
    return result


@router.post("/campaigns/{campaign_id}/status", response_model=CampaignOut,
             summary="Schedule, start, pause, resume or finish a campaign (allowed transitions only; audited)")
async def change_status(campaign_id: uuid.UUID, body: StatusChange, request: Request,
                        caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "change_status", campaign_id=str(campaign_id),
                                              status=body.status, note=body.note, timeout=SNAPSHOT_TIMEOUT)
    await _audit(request, "campaigns.status_changed", "campaign", str(campaign_id), status=body.status)
    return result


@router.put("/campaigns/{campaign_id}/budget", response_model=CampaignOut,
            summary="Change the budget caps (never below what is committed; audited)")
async def set_budget(campaign_id: uuid.UUID, body: Budget, request: Request,
                     caller: Principal = allow(*MANAGE)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "set_budget", campaign_id=str(campaign_id),
                                              **body.model_dump(mode="json"))
    await _audit(request, "campaigns.budget_changed", "campaign", str(campaign_id), **body.model_dump(mode="json"))
    return result


@router.get("/campaigns/{campaign_id}/history", response_model=Page[HistoryEntry],
            summary="Every state change of a campaign, with who made it, oldest first (paged)")
async def campaign_history(campaign_id: uuid.UUID, request: Request, paging: PageParams = Depends(page_params),
                           caller: Principal = allow(*READ)) -> dict[str, Any]:
    return answer(await _campaigns(request, "campaign_history", campaign_id=str(campaign_id), limit=paging.limit,
                                   after=position(paging, HISTORY_POSITION)))


@router.get("/campaigns/{campaign_id}/results", response_model=CampaignResults,
            summary="Reached, delivered, redeemed, conversion, attributed sales, cost and lift, per store",
            description="Sales count from the launch (`window_starts_at`), never before, until `window_ends_at` "
                        "(launch + attribution_days), net of their refunds; the same window for treated and control "
                        "members. `redeemed` counts this campaign's own coupons and is null for points campaigns; "
                        "`conversion`, `control_conversion` and `lift` are null when the group they divide by is "
                        "empty (no control group: no lift). Each field's description defines it.")
async def campaign_results(campaign_id: uuid.UUID, request: Request,
                           caller: Principal = allow("admin", "marketer", "auditor", "manager")) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "campaign_results", campaign_id=str(campaign_id),
                                              timeout=SNAPSHOT_TIMEOUT)
    return result
