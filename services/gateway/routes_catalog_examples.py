"""Written examples of the master-data routes (merged into api_examples.EXAMPLES by operationId)."""
from __future__ import annotations

from typing import Any

_BOOK = {"version": 2, "source": "odoo", "source_version": 17, "last_synced_at": "2026-12-05T08:00:00Z",
         "updated_at": "2026-12-05T08:00:00Z"}
_STORE_IN = {"code": "SH-001", "name": "Shanghai Nanjing Road", "region": "east", "brand": "FreshMart",
             "address": "100 Nanjing Rd, Shanghai", "time_zone": "Asia/Shanghai", "currency": "CNY", "status": "open",
             "opened_on": "2020-05-01"}
_CATEGORY_IN = {"code": "tobacco", "name": "Tobacco", "parent": "non-food"}
_PRODUCT_IN = {"sku": "6901028075831", "name": "Cigarettes 20", "category": "tobacco", "brand": "Zhonghua",
               "unit_price": "45.00", "excluded_from_earning": True, "coupon_eligible": False}
_STORE = {**_STORE_IN, **_BOOK}
_CATEGORY = {**_CATEGORY_IN, **_BOOK, "path": ["non-food", "tobacco"]}
_PRODUCT = {**_PRODUCT_IN, **_BOOK, "category_path": ["non-food", "tobacco"]}


def _kind(name: str, plural: str, record_in: dict[str, Any], record: dict[str, Any], key: str,
          change: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"create_{name}": {"request": record_in, "response": {**record, "version": 1, "source": "manual",
                                                               "source_version": None}},
        f"get_{name}": {"response": record},
        f"update_{name}": {"request": change, "response": {**record, **change, "source": "manual"}},
        f"list_{plural}": {"response": {"items": [record], "next_cursor": None}},
        f"upsert_{plural}": {
            "request": {"source": "odoo", "items": [{**record_in, "version": 17}]},
            "response": {"results": [{"key": record_in[key], "outcome": "updated", "version": 2, "field": None,
                                      "message": None}]}},
    }


CATALOG_EXAMPLES: dict[str, dict[str, Any]] = {
    **_kind("store", "stores", _STORE_IN, _STORE, "code", {"time_zone": "Asia/Tokyo"}),
    **_kind("category", "categories", _CATEGORY_IN, _CATEGORY, "code", {"name": "Tobacco and lighters"}),
    **_kind("product", "products", _PRODUCT_IN, _PRODUCT, "sku", {"unit_price": "48.00"}),
}
