"""/v1/stores, /v1/categories, /v1/products: the chain's master data, owned by the catalog service.
Every staff role and every API key read; admins and ERP keys (``import:write``) write. Updates name
the version they read in If-Match (428 without it, 412 when it moved on). Each route makes one RPC."""
from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, Field

from contracts.catalog import (
    CategoryChanges,
    CategoryIn,
    CategoryOut,
    ProductChanges,
    ProductIn,
    ProductOut,
    Source,
    StoreChanges,
    StoreIn,
    StoreOut,
    StoreStatus,
    UpsertResult,
)
from services.gateway.errors import ApiError
from services.gateway.pagination import Page, PageParams, page, page_params
from services.gateway.rpc import RemoteError
from services.gateway.security.policy import allow
from services.gateway.security.principal import STAFF_ROLES, Principal

router = APIRouter(tags=["catalog"])

READ = allow(*STAFF_ROLES, any_key=True)  # everybody who works with stores, and every API key
WRITE = allow("admin", scopes=["import:write"])  # admins; ERP keys (import:write is never on a POS key)
Key = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Filter = Annotated[str | None, Query(max_length=64)]
_VERSION = re.compile(r"^[1-9][0-9]{0,9}$")
_MUST_MATCH: dict[int | str, dict[str, Any]] = {
    412: {"description": "If-Match names a version the record has moved on from"},
    428: {"description": "If-Match missing"}}


class UpsertBody(BaseModel):
    source: Source = "manual"
    items: list[dict[str, Any]] = Field(
        min_length=1, max_length=500,
        description="Records as for create, each with an optional `version`: the source's own version of it "
                    "(an item whose version the source already sent, or an older one, changes nothing)")


class UpsertAnswer(BaseModel):
    results: list[UpsertResult] = Field(description="One per item, in the order sent")


def _expected_version(if_match: str | None) -> int:
    if if_match is None:
        raise ApiError(428, "precondition_required", "send If-Match with the version you read (its ETag)",
                       field="If-Match")
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not _VERSION.match(raw):
        raise ApiError(422, "invalid_input", "If-Match must be the ETag from GET, like \"3\"", field="If-Match")
    return int(raw)


async def _catalog(request: Request, method: str, **kwargs: Any) -> Any:
    return await request.app.state.services.call(request, "catalog", method, **kwargs)


async def _one(request: Request, response: Response, method: str, **kwargs: Any) -> Any:
    """A record, with its version as the ETag; a stale If-Match is 412."""
    try:
        record = await _catalog(request, method, **kwargs)
    except RemoteError as exc:
        if exc.exc_type == "Conflict" and exc.field == "If-Match":
            raise ApiError(412, "precondition_failed", exc.message, field="If-Match") from None
        raise
    response.headers["ETag"] = f'"{record["version"]}"'
    return record


async def _list(request: Request, kind: str, key: str, paging: PageParams, **filters: Any) -> dict[str, Any]:
    rows = await _catalog(request, "page", kind=kind, after=paging.position(str), limit=paging.limit + 1,
                          filters={k: v for k, v in filters.items() if v is not None})
    items, cursor = page(rows, paging.limit, lambda row: row[key])
    return {"items": items, "next_cursor": cursor}


async def _upsert(request: Request, kind: str, body: UpsertBody) -> dict[str, Any]:
    return {"results": await _catalog(request, "upsert", kind=kind, items=body.items, source=body.source)}


# ---- stores ---------------------------------------------------------------------------------------------
@router.post("/stores", status_code=201, response_model=StoreOut, summary="Create a store")
async def create_store(body: StoreIn, request: Request, response: Response,
                       caller: Principal = WRITE) -> Any:
    return await _one(request, response, "create", kind="store", record=body.model_dump(mode="json"))


@router.get("/stores/{code}", response_model=StoreOut, summary="One store")
async def get_store(code: Key, request: Request, response: Response, caller: Principal = READ) -> Any:
    return await _one(request, response, "get", kind="store", key=code)


@router.patch("/stores/{code}", response_model=StoreOut, summary="Change a store (If-Match required)",
              responses=_MUST_MATCH)
async def update_store(code: Key, body: StoreChanges, request: Request, response: Response,
                       if_match: str | None = Header(None, description="The ETag (version) you read"),
                       caller: Principal = WRITE) -> Any:
    return await _one(request, response, "update", kind="store", key=code, expected_version=_expected_version(
        if_match), changes=body.model_dump(mode="json", exclude_unset=True))


@router.get("/stores", response_model=Page[StoreOut], summary="Stores, by code",
            description="Filter by region, brand and status.")
async def list_stores(request: Request, region: Filter = None, brand: Filter = None, status: StoreStatus | None = None,
                      paging: PageParams = Depends(page_params), caller: Principal = READ) -> Any:
    return await _list(request, "store", "code", paging, region=region, brand=brand, status=status)


@router.post("/stores/bulk", response_model=UpsertAnswer, summary="Create or update many stores")
async def upsert_stores(request: Request, body: UpsertBody = Body(),
                        caller: Principal = WRITE) -> Any:
    return await _upsert(request, "store", body)


# ---- categories -----------------------------------------------------------------------------------------
@router.post("/categories", status_code=201, response_model=CategoryOut, summary="Create a category")
async def create_category(body: CategoryIn, request: Request, response: Response,
                          caller: Principal = WRITE) -> Any:
    return await _one(request, response, "create", kind="category", record=body.model_dump(mode="json"))


@router.get("/categories/{code}", response_model=CategoryOut, summary="One category, with its path")
async def get_category(code: Key, request: Request, response: Response, caller: Principal = READ) -> Any:
    return await _one(request, response, "get", kind="category", key=code)


@router.patch("/categories/{code}", response_model=CategoryOut, summary="Rename or move a category (If-Match)",
              responses=_MUST_MATCH)
async def update_category(code: Key, body: CategoryChanges, request: Request, response: Response,
                          if_match: str | None = Header(None, description="The ETag (version) you read"),
                          caller: Principal = WRITE) -> Any:
    return await _one(request, response, "update", kind="category", key=code, expected_version=_expected_version(
        if_match), changes=body.model_dump(mode="json", exclude_unset=True))


@router.get("/categories", response_model=Page[CategoryOut], summary="Categories, by code",
            description="Filter by parent (the children of one category).")
async def list_categories(request: Request, parent: Filter = None, paging: PageParams = Depends(page_params),
                          caller: Principal = READ) -> Any:
    return await _list(request, "category", "code", paging, parent=parent)


@router.post("/categories/bulk", response_model=UpsertAnswer, summary="Create or update many categories",
             description="Parents before their children, in one request or an earlier one.")
async def upsert_categories(request: Request, body: UpsertBody = Body(),
                            caller: Principal = WRITE) -> Any:
    return await _upsert(request, "category", body)


# ---- products -------------------------------------------------------------------------------------------
@router.post("/products", status_code=201, response_model=ProductOut, summary="Create a product")
async def create_product(body: ProductIn, request: Request, response: Response,
                         caller: Principal = WRITE) -> Any:
    return await _one(request, response, "create", kind="product", record=body.model_dump(mode="json"))


@router.get("/products/{sku}", response_model=ProductOut, summary="One product, with its category path")
async def get_product(sku: Key, request: Request, response: Response, caller: Principal = READ) -> Any:
    return await _one(request, response, "get", kind="product", key=sku)


@router.patch("/products/{sku}", response_model=ProductOut, summary="Change a product (If-Match required)",
              responses=_MUST_MATCH)
async def update_product(sku: Key, body: ProductChanges, request: Request, response: Response,
                         if_match: str | None = Header(None, description="The ETag (version) you read"),
                         caller: Principal = WRITE) -> Any:
    return await _one(request, response, "update", kind="product", key=sku, expected_version=_expected_version(
        if_match), changes=body.model_dump(mode="json", exclude_unset=True))


@router.get("/products", response_model=Page[ProductOut], summary="Products, by SKU",
            description="Filter by category (its own products, not its subcategories'), brand and flags.")
async def list_products(request: Request, category: Filter = None, brand: Filter = None,
                        excluded_from_earning: bool | None = None, coupon_eligible: bool | None = None,
                        paging: PageParams = Depends(page_params), caller: Principal = READ) -> Any:
    return await _list(request, "product", "sku", paging, category=category, brand=brand,
                       excluded_from_earning=excluded_from_earning, coupon_eligible=coupon_eligible)


@router.post("/products/bulk", response_model=UpsertAnswer, summary="Create or update many products")
async def upsert_products(request: Request, body: UpsertBody = Body(),
                          caller: Principal = WRITE) -> Any:
    return await _upsert(request, "product", body)

