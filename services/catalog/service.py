"""Catalog service entrypoints: stores, the category tree and products, the chain's master data.
Thin: check the caller, call a use case in one transaction, answer the contract's shape."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from nameko import rpc as nameko_rpc

from contracts.access import MASTER_DATA, STAFF_OR_KEYS, require
from contracts.errors import InvalidInput
from services.catalog import browse, maintain
from services.catalog.files.entrypoints import FilesEntrypoints
from services.catalog.kinds import SPECS, Spec
from services.catalog.sync_entrypoints import SyncEntrypoints

F = TypeVar("F", bound=Callable[..., Any])
rpc = cast(Callable[[F], F], nameko_rpc.rpc)  # nameko is untyped; the method keeps its signature


def _spec(kind: str) -> Spec:
    spec = SPECS.get(kind)
    if spec is None:
        raise InvalidInput(f"one of {sorted(SPECS)}", "kind")
    return spec


class CatalogService(SyncEntrypoints, FilesEntrypoints):
    name = "catalog"

    def _may_read(self) -> None:
        require(self.caller, STAFF_OR_KEYS)  # master data is for staff and systems, not members

    def _may_write(self) -> None:
        require(self.caller, MASTER_DATA)  # admin staff and ERP keys

    @rpc
    def get(self, kind: str, key: str) -> dict[str, Any]:
        self._may_read()
        with self.db.transaction() as tx:
            return browse.get(tx, _spec(kind), key)

    @rpc
    def page(self, kind: str, after: str | None = None, limit: int = 50,
             filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self._may_read()
        with self.db.transaction() as tx:
            return browse.page(tx, _spec(kind), after, limit, filters or {})

    @rpc
    def create(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        self._may_write()
        with self.db.transaction() as tx:
            return maintain.create(tx, _spec(kind), record)

    @rpc
    def update(self, kind: str, key: str, expected_version: int, changes: dict[str, Any]) -> dict[str, Any]:
        self._may_write()
        with self.db.transaction() as tx:
            return maintain.update(tx, _spec(kind), key, expected_version, changes)

    @rpc
    def upsert(self, kind: str, items: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        """Bulk upsert from a source (``manual`` or an adapter): a result per item, idempotent per
        source, key and the source's version of the record."""
        self._may_write()
        with self.db.transaction() as tx:
            return maintain.upsert_many(tx, _spec(kind), items, source)
