"""/v1/coupons, /v1/rewards and a member's coupons and exchanges: coupon templates, issuing (one, or a
background job), checkout (validate, redeem, refund), the rewards catalog.

Each route checks who may call it and for which store or member, then makes one RPC to the
campaigns service and relays its answer (the service checks the caller again itself).
"""
from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from contracts import access
from contracts.coupons import (
    Basket,
    CatalogItem,
    CatalogItemOut,
    Code,
    CouponOut,
    CouponRefund,
    CouponRefundResult,
    CouponTemplate,
    ExchangeResult,
    IssueCoupon,
    IssueJob,
    IssueJobRequest,
    Redeem,
    Redemption,
    RestockItem,
    TemplateOut,
    TemplatePreview,
    TemplatePreviewResult,
    Validation,
)
from contracts.paging import COUPON_POSITION, ITEM_POSITION, TEMPLATE_POSITION
from services.campaigns.coupons.domain import code_problem
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, page_params
from services.gateway.security.policy import allow, deny, require_store
from services.gateway.security.principal import Principal
from services.gateway.service_pages import answer, position

router = APIRouter(tags=["coupons"])

MARKETING = access.MARKETING
TEMPLATE_READERS = access.CHAIN_READERS
AT_THE_TILL = access.AT_THE_TILL  # staff at a counter; POS keys need coupons:redeem
COUPON_READERS = access.STAFF_ROLES
JOB_TIMEOUT = 60.0  # a million member ids travel in the request
_REPLAYED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Replayed: the first answer for this idempotency key, `replayed` true"}}


async def _campaigns(request: Request, method: str, timeout: float | None = None, **kwargs: Any) -> Any:
    extra = {} if timeout is None else {"timeout": timeout}
    return await request.app.state.services.call(request, "campaigns", method, **kwargs, **extra)


def _created_or_replayed(response: Response, result: dict[str, Any]) -> dict[str, Any]:
    if result.get("replayed"):
        response.status_code = 200
    return result


async def _own_member(request: Request, caller: Principal, member_id: uuid.UUID) -> str:
    if caller.kind == "member" and caller.member_id != str(member_id):
        await deny(request, "a member reaches only their own coupons and rewards", member_id=str(member_id))
    return str(member_id)


# ---- templates and issuing (marketing) -------------------------------------------------------------------
@router.post("/coupons/templates", status_code=201, response_model=TemplateOut,
             summary="Create a coupon template (audited)",
             description="Threshold cash-off, percent-off, cash-off or a free gift; validity as fixed dates or "
                         "days from issue; eligible stores, categories and SKUs; minimum spend; stackable or "
                         "exclusive; per-member limit; budget by count and value. A percent coupon says which "
                         "percent it means: `discount_percent` (the share off: 9折 is \"10\") or `price_percent` "
                         "(the share paid: 9折 is \"90\"); the old `percent` is refused (422 naming it). Above "
                         "the deployment's maximum discount (COUPON_MAX_DISCOUNT_PERCENT, 50 by default) it needs "
                         "`confirm_high_discount`; without a `max_discount` it needs a `budget_count` (422 naming "
                         "the field otherwise).")
async def create_template(body: CouponTemplate, request: Request,
                          caller: Principal = allow(*MARKETING)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "create_template", **body.model_dump(mode="json"))
    await request.app.state.auditor.record(request, "coupons.template_created", "ok", object_type="coupon_template",
                                           object_id=result["template_id"], details={"name": body.name})
    request.state.audited = True
    return result


@router.post("/coupons/templates/preview", response_model=TemplatePreviewResult,
             summary="What a basket would get from a coupon of these terms, before the template exists",
             description="The discount as the till computes it (minimum spend on eligible items, percent with its "
                         "cap, the catalog's stores, regions, brands and categories); nothing is saved. Terms that "
                         "do not hold together are a 422 naming `template.<field>`; a basket the coupon would be "
                         "refused for answers `applies` false with the refusal's message and `basket.<field>`.")
async def preview_template(body: TemplatePreview, request: Request,
                           caller: Principal = allow(*MARKETING)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "preview_template", **body.model_dump(mode="json"))
    return result


@router.get("/coupons/templates", response_model=Page[TemplateOut], summary="Coupon templates, newest first (paged)")
async def list_templates(request: Request, paging: PageParams = Depends(page_params),
                         caller: Principal = allow(*TEMPLATE_READERS)) -> dict[str, Any]:
    return answer(await _campaigns(request, "list_templates", limit=paging.limit,
                                   after=position(paging, TEMPLATE_POSITION)))


@router.get("/coupons/templates/{template_id}", response_model=TemplateOut,
            summary="A coupon template with its issued, redeemed and budget figures")
async def get_template(template_id: uuid.UUID, request: Request,
                       caller: Principal = allow(*TEMPLATE_READERS)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "get_template", template_id=str(template_id))
    return result


@router.post("/coupons/issue", status_code=201, response_model=CouponOut, responses=_REPLAYED,
             summary="Issue one coupon to a member",
             description="With a request_id a retry answers the same coupon. 409 naming per_member_limit, "
                         "budget_count or budget_value when the template allows no more.")
async def issue_coupon(body: IssueCoupon, request: Request, response: Response,
                       caller: Principal = allow(*MARKETING)) -> dict[str, Any]:
    return _created_or_replayed(response, await _campaigns(request, "issue_coupon", **body.model_dump(mode="json")))


@router.post("/coupons/issue-jobs", status_code=202, response_model=IssueJob,
             summary="Issue one coupon to each of many members, in the background",
             description="Answers the job at once; follow it at /v1/coupons/issue-jobs/{job_id}. With a "
                         "campaign_id a member gets one coupon of that campaign however often it is sent.")
async def start_issue_job(body: IssueJobRequest, request: Request,
                          caller: Principal = allow(*MARKETING)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "start_issue_job", timeout=JOB_TIMEOUT,
                                              **body.model_dump(mode="json"))
    return result


@router.get("/coupons/issue-jobs/{job_id}", response_model=IssueJob, summary="An issue job's progress")
async def get_issue_job(job_id: uuid.UUID, request: Request, caller: Principal = allow(*MARKETING)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "get_issue_job", job_id=str(job_id))
    return result


def _check_codes(codes: list[str]) -> None:
    """A mistyped code is refused here by its check character, before any RPC or lookup."""
    for i, code in enumerate(codes):
        problem = code_problem(code)
        if problem:
            raise ApiError(422, "invalid_input", problem, field="code" if len(codes) == 1 else f"codes.{i}")


# ---- at the till -------------------------------------------------------------------------------------------
@router.post("/coupons/validate", response_model=Validation, summary="The discount coupons give a basket",
             description="Changes nothing. A mistyped code is refused by its check character (422 naming code) "
                         "before any lookup; outside its stores or dates, 422 naming store or code.")
async def validate_coupons(body: Basket, request: Request,
                           caller: Principal = allow(*AT_THE_TILL, scopes=["coupons:redeem"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    _check_codes(body.codes)
    result: dict[str, Any] = await _campaigns(request, "validate_coupons", **body.model_dump(mode="json"))
    request.state.audited = True  # changes nothing: no audit entry (refused ones are audited as usual)
    return result


@router.post("/coupons/redeem", status_code=201, response_model=Redemption, responses=_REPLAYED,
             summary="Use coupons on a sale",
             description="Idempotent by (store, transaction_id): a retry answers 200 with the first result; a "
                         "different body for the same sale is 409. A coupon already used is 409 naming it.")
async def redeem_coupons(body: Redeem, request: Request, response: Response,
                         caller: Principal = allow(*AT_THE_TILL, scopes=["coupons:redeem"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    _check_codes(body.codes)
    result = await _campaigns(request, "redeem_coupons", **body.model_dump(mode="json"))
    request.state.audited = True  # the redemption is the record (store, terminal, transaction)
    return _created_or_replayed(response, result)


@router.post("/coupons/refunds", response_model=CouponRefundResult,
             summary="The sale was refunded: give its coupons back where the template says so",
             description="Idempotent: a second call answers the first result with `replayed` true.")
async def refund_coupons(body: CouponRefund, request: Request,
                         caller: Principal = allow(*AT_THE_TILL, scopes=["coupons:redeem"])) -> dict[str, Any]:
    await require_store(request, caller, body.store)
    result: dict[str, Any] = await _campaigns(request, "refund_coupons", **body.model_dump(mode="json"))
    request.state.audited = True  # the redemption records its refund (when, and what came back)
    return result


# ---- a member's coupons ------------------------------------------------------------------------------------
@router.get("/members/{member_id}/coupons", response_model=Page[CouponOut],
            summary="A member's coupons: valid, used, expired (newest first, paged)")
async def member_coupons(member_id: uuid.UUID, request: Request,
                         status: Literal["valid", "used", "expired", "not_yet_valid", "void"] | None = None,
                         paging: PageParams = Depends(page_params),
                         caller: Principal = allow(*COUPON_READERS, scopes=["coupons:redeem"], member=True)
                         ) -> dict[str, Any]:
    member = await _own_member(request, caller, member_id)
    return answer(await _campaigns(request, "member_coupons", member_id=member, status=status, limit=paging.limit,
                                   after=position(paging, COUPON_POSITION)))


# ---- the rewards catalog -----------------------------------------------------------------------------------
@router.get("/rewards", response_model=Page[CatalogItemOut],
            summary="The rewards catalog: items priced in points, cheapest first (paged)")
async def catalog(request: Request, active_only: bool = True, paging: PageParams = Depends(page_params),
                  caller: Principal = allow(*COUPON_READERS, member=True)) -> dict[str, Any]:
    return answer(await _campaigns(request, "catalog", active_only=active_only, limit=paging.limit,
                                   after=position(paging, ITEM_POSITION)))


@router.post("/rewards", status_code=201, response_model=CatalogItemOut, summary="Add a catalog item (audited)",
             description="A coupon template or a gift SKU with its stock, priced in points.")
async def create_catalog_item(body: CatalogItem, request: Request,
                              caller: Principal = allow(*MARKETING)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "create_catalog_item", **body.model_dump(mode="json"))
    await request.app.state.auditor.record(request, "rewards.item_created", "ok", object_type="catalog_item",
                                           object_id=result["item_id"], details={"name": body.name})
    request.state.audited = True
    return result


@router.post("/rewards/{item_id}/restock", response_model=CatalogItemOut, summary="Add stock to a gift")
async def restock_item(item_id: uuid.UUID, body: RestockItem, request: Request,
                       caller: Principal = allow(*MARKETING)) -> dict[str, Any]:
    result: dict[str, Any] = await _campaigns(request, "restock_item", item_id=str(item_id), add=body.add)
    return result


class ExchangeBody(BaseModel):
    """Spend the member's points on a catalog item (the member in the path)."""

    model_config = ConfigDict(extra="forbid")
    item_id: uuid.UUID
    exchange_key: Code = Field(description="Idempotency key: a retry with the same key answers the first result")
    store: Code | None = Field(default=None, description="Store the points are spent at; default the caller's "
                                                         "store, else ONLINE")


@router.post("/members/{member_id}/rewards/exchanges", status_code=201, response_model=ExchangeResult,
             responses={**_REPLAYED, 409: {"description": "`insufficient_points`, or out of stock, or over a limit"}},
             summary="Exchange points for a reward",
             description="Points are held, the reward given (a coupon issued, or a gift's stock taken), then the "
                         "points spent; on any failure the hold is released. Members for themselves; staff at a "
                         "counter for their stores.")
async def exchange(member_id: uuid.UUID, body: ExchangeBody, request: Request, response: Response,
                   caller: Principal = allow(*AT_THE_TILL, member=True)) -> dict[str, Any]:
    member = await _own_member(request, caller, member_id)
    store = body.store or caller.home_store or "ONLINE"
    if caller.stores is not None:
        await require_store(request, caller, store)
    result = await _campaigns(request, "exchange", item_id=str(body.item_id), member_id=member,
                              exchange_key=body.exchange_key, store=store)
    return _created_or_replayed(response, result)
