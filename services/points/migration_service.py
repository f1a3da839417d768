"""Points entrypoints for moving a chain onto the platform: migration imports (opening balances,
tiers) and historical sales in history-only mode. Thin: who may, then the use case."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from nameko.rpc import rpc

from contracts.access import ADMIN, IMPORTERS, require
from contracts.errors import Conflict, Forbidden, InsufficientPoints, InvalidInput, NotFound
from service_runtime.base import ServiceBase
from services.points import history_import, migration_import
from services.points.programs import ProgramProvider

EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict, InsufficientPoints)
F = TypeVar("F", bound=Callable[..., Any])


def entrypoint(method: F) -> F:
    return rpc(expected_exceptions=EXPECTED)(method)


class MigrationEntrypoints(ServiceBase):
    """A base of PointsService (its providers are the service's)."""

    program_cache: ProgramProvider
    members: Any

    def _may_import(self) -> str:
        """Admin staff and ERP keys bring data in; the actor recorded on what they bring (the
        person a service such as the files adapter acts for, from the signed caller)."""
        require(self.caller, IMPORTERS)
        return self.caller.actor

    def _admin(self) -> str:
        require(self.caller, ADMIN)
        return self.caller.actor

    @entrypoint
    def create_migration(self, kind: str, source: str, note: str | None = None) -> dict[str, Any]:
        return migration_import.create(self.db, kind, source, note, self._may_import())

    @entrypoint
    def stage_migration(self, import_id: str, rows: Any = None) -> dict[str, Any]:
        self._may_import()
        return migration_import.stage(self.db, self.members, self.program_cache, import_id, rows)

    @entrypoint
    def approve_migration(self, import_id: str, reject: bool = False) -> dict[str, Any]:
        return migration_import.approve(self.db, import_id, self._admin(), bool(reject))

    @entrypoint
    def apply_migration(self, import_id: str) -> dict[str, Any]:
        self._admin()
        return migration_import.apply(self.db, self.program_cache, import_id)

    @entrypoint
    def migration_status(self, import_id: str) -> dict[str, Any]:
        self._may_import()
        return migration_import.status(self.db, import_id)

    @entrypoint
    def migration_errors(self, import_id: str, after_line: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        self._may_import()
        return migration_import.errors(self.db, import_id, int(after_line), int(limit))

    @entrypoint
    def migrations(self, limit: int = 50, before: Any = None) -> list[dict[str, Any]]:
        self._may_import()
        return migration_import.imports(self.db, int(limit), before)

    @entrypoint
    def record_history(self, items: Any = None) -> dict[str, Any]:
        """Historical sales in history-only mode: recorded, idempotent per store and transaction
        id, earning nothing; each item answered on its own as in record_batch."""
        self._may_import()
        return history_import.record(self.db, self.members, self.program_cache, items, self.caller.stores)
