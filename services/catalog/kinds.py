"""What differs between stores, categories and products: their contracts, their event, and the
references a record must satisfy (a category's parent, a product's category)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from contracts.catalog import (
    CategoryChanged,
    CategoryChanges,
    CategoryIn,
    CategoryOut,
    ProductChanged,
    ProductChanges,
    ProductIn,
    ProductOut,
    StoreChanged,
    StoreChanges,
    StoreIn,
    StoreOut,
)
from contracts.envelope import EventPayload
from contracts.errors import InvalidInput
from service_runtime.db import Tx
from services.catalog import domain
from services.catalog.repo import CATEGORIES, PRODUCTS, STORES, Kind, records


def _no_references(tx: Tx, key: str, values: dict[str, Any]) -> None:
    return None


def _category_references(tx: Tx, key: str, values: dict[str, Any]) -> None:
    if "parent" in values:
        domain.check_parent(key, values["parent"], records.category_parents(tx))


def _product_references(tx: Tx, key: str, values: dict[str, Any]) -> None:
    category = values.get("category")
    if category is not None and records.get(tx, CATEGORIES, category) is None:
        raise InvalidInput(f"no category {category!r}", "category")


Parents = dict[str, str | None]


def _store_out(row: dict[str, Any], parents: Parents) -> BaseModel:
    return StoreOut.model_validate(row)


def _category_out(row: dict[str, Any], parents: Parents) -> BaseModel:
    return CategoryOut.model_validate({**row, "path": domain.category_path(row["code"], parents)})


def _product_out(row: dict[str, Any], parents: Parents) -> BaseModel:
    category = row.get("category")
    return ProductOut.model_validate({**row, "category_path": domain.category_path(category, parents)
                                      if category else []})


@dataclass(frozen=True)
class Spec:
    kind: Kind
    new: type[BaseModel]
    changes: type[BaseModel]
    out: Callable[[dict[str, Any], Parents], BaseModel]
    event: Callable[[str, BaseModel], EventPayload]
    references: Callable[[Tx, str, dict[str, Any]], None]
    uses_tree: bool  # its answer shows a category path

    def parents(self, tx: Tx) -> Parents:
        return records.category_parents(tx) if self.uses_tree else {}

    def shape(self, tx: Tx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows as the contract answers them (the tree read once for all of them)."""
        parents = self.parents(tx)
        return [self.out(row, parents).model_dump(mode="json") for row in rows]


SPECS: dict[str, Spec] = {
    "store": Spec(STORES, StoreIn, StoreChanges, _store_out,
                  lambda change, out: StoreChanged(change=change, store=out),
                  _no_references, False),
    "category": Spec(CATEGORIES, CategoryIn, CategoryChanges, _category_out,
                     lambda change, out: CategoryChanged(change=change, category=out),
                     _category_references, True),
    "product": Spec(PRODUCTS, ProductIn, ProductChanges, _product_out,
                    lambda change, out: ProductChanged(change=change, product=out),
                    _product_references, True),
}
