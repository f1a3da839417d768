"""Master data the catalog service owns: stores, the category tree and products, with the
records' RPC shapes and the ``*.changed`` events that carry them to every other service.

Every record has an integer ``version`` (ours, +1 on each change; also the gateway's ETag), the
``source`` that last wrote it (``manual`` or an adapter's name) and ``last_synced_at``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from contracts.envelope import EventPayload
from contracts.money import Money

StoreStatus = Literal["open", "closed", "suspended"]
Change = Literal["created", "updated"]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
                            examples=["SH-001"])]
Source = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_\-]*$",
                              description="`manual`, or the adapter that brought the record", examples=["odoo"])]


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"not an IANA time zone: {value!r}") from None
    return value


TimeZone = Annotated[str, Field(min_length=1, max_length=64, examples=["Asia/Shanghai"],
                                description="An IANA time zone name"), AfterValidator(_zone)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"], description="ISO 4217 code")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreFields(_Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Shanghai Nanjing Road"])
    region: str | None = Field(default=None, max_length=64, examples=["east"])
    brand: str | None = Field(default=None, max_length=64, examples=["FreshMart"])
    address: str | None = Field(default=None, max_length=400)
    time_zone: TimeZone
    currency: Currency
    status: StoreStatus = "open"
    opened_on: date | None = Field(default=None, description="Opening date")


class StoreIn(StoreFields):
    code: Code


class StoreChanges(_Strict):
    """The fields to change (absent: unchanged)."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    region: str | None = Field(default=None, max_length=64)
    brand: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=400)
    time_zone: TimeZone | None = None
    currency: Currency | None = None
    status: StoreStatus | None = None
    opened_on: date | None = None


class CategoryFields(_Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Tobacco"])
    parent: Code | None = Field(default=None, description="The parent category's code; none: a root")


class CategoryIn(CategoryFields):
    code: Code


class CategoryChanges(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent: Code | None = None


class ProductFields(_Strict):
    name: str = Field(min_length=1, max_length=200, examples=["Cola 330ml"])
    category: Code | None = Field(default=None, description="The category's code")
    brand: str | None = Field(default=None, max_length=64)
    unit_price: Money
    excluded_from_earning: bool = Field(default=False, description="Earns no points (tobacco, gift cards)")
    coupon_eligible: bool = True


class ProductIn(ProductFields):
    sku: Code


class ProductChanges(_Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    category: Code | None = None
    brand: str | None = Field(default=None, max_length=64)
    unit_price: Money | None = None
    excluded_from_earning: bool | None = None
    coupon_eligible: bool | None = None


def category_path(code: str, parents: Mapping[str, str | None]) -> tuple[str, ...]:
    """Codes from the root down to ``code`` by ``parents`` (a code to its parent's), as a consumer's
    read model of ``category.changed`` holds them; stops at a loop (only data written around the
    catalog's rules can have one)."""
    path = [code]
    parent = parents.get(code)
    while parent is not None and parent not in path:
        path.append(parent)
        parent = parents.get(parent)
    return tuple(reversed(path))


class Versioned(BaseModel):
    version: int = Field(ge=1, description="Also the ETag; send it as If-Match to update")
    source: str = Field(description="`manual`, or the adapter that last wrote it")
    source_version: int | None = Field(default=None, description="The version the source gave (bulk upserts)")
    last_synced_at: datetime
    updated_at: datetime


class StoreOut(StoreIn, Versioned):
    pass


class CategoryOut(CategoryIn, Versioned):
    path: list[str] = Field(description="Codes from the root down to this category")


class ProductOut(ProductIn, Versioned):
    category_path: list[str] = Field(default_factory=list, description="Codes from the root to its category")


class UpsertResult(BaseModel):
    """One item of a bulk upsert: created, updated, unchanged (a replay or an older version), or error."""

    key: str = Field(description="The item's code or SKU")
    outcome: Literal["created", "updated", "unchanged", "error"]
    version: int | None = None
    field: str | None = None
    message: str | None = None


class StoreChanged(EventPayload):
    """A store was created or changed; the whole record, so consumers keep a read model."""

    TYPE = "store.changed"
    VERSION = 1
    PRODUCER = "catalog"

    change: Change
    store: StoreOut


class CategoryChanged(EventPayload):
    TYPE = "category.changed"
    VERSION = 1
    PRODUCER = "catalog"

    change: Change
    category: CategoryOut


class ProductChanged(EventPayload):
    TYPE = "product.changed"
    VERSION = 1
    PRODUCER = "catalog"

    change: Change
    product: ProductOut


# Registered in contracts.events.EVENTS (each has a consumer: tests/unit/test_event_routes.py). Points
# keeps store zones and statuses, product exclusions and the category tree; campaigns keeps stores and
# categories to scope coupons.
CATALOG_EVENTS: tuple[type[EventPayload], ...] = (StoreChanged, CategoryChanged, ProductChanged)
CATALOG_MODELS: dict[str, type[BaseModel]] = {
    "StoreIn": StoreIn, "StoreOut": StoreOut, "CategoryIn": CategoryIn,
    "CategoryOut": CategoryOut, "ProductIn": ProductIn, "ProductOut": ProductOut,
    "CatalogUpsertResult": UpsertResult,
}
