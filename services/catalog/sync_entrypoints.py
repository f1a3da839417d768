"""The catalog service's ERP sync entrypoints (mixed into CatalogService): operators declare connections
and read their status; a timer runs each connection when due; a run can be asked for or run now."""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast

from nameko import rpc as nameko_rpc
from nameko.rpc import ServiceRpc
from nameko.timer import timer

from contracts.errors import Conflict, Forbidden
from service_runtime.base import Caller
from service_runtime.config import env_int
from service_runtime.db import WorkerDb
from services.catalog.erp import runner, status

F = TypeVar("F", bound=Callable[..., Any])
rpc = cast(Callable[[F], F], nameko_rpc.rpc)
TICK_SECONDS = env_int("CATALOG_ERP_TICK_SECONDS", 5)  # how often due connections are looked for
OPERATORS = frozenset({"admin", "erp"})
_OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"  # this process, as a lease holder


class SyncEntrypoints:
    db: WorkerDb
    caller: Caller
    members = ServiceRpc("members")  # the members import path, for customers

    def _operator(self) -> None:
        caller = self.caller
        if caller.kind != "internal" and not (caller.kind in ("staff", "key") and OPERATORS & set(caller.roles)):
            raise Forbidden("ERP sync is for admins and ERP keys")

    @rpc
    def put_connection(self, name: str, connection: dict[str, Any]) -> dict[str, Any]:
        self._operator()
        with self.db.transaction() as tx:
            return status.put(tx, name, connection)

    @rpc
    def sync_connections(self) -> list[dict[str, Any]]:
        self._operator()
        with self.db.transaction() as tx:
            return status.all_status(tx)

    @rpc
    def sync_status(self, name: str) -> dict[str, Any]:
        self._operator()
        with self.db.transaction() as tx:
            return status.status(tx, name)

    @rpc
    def request_sync(self, name: str) -> dict[str, Any]:
        """Run it at the next tick (the gateway's POST .../run: a long sync never holds an HTTP request)."""
        self._operator()
        with self.db.transaction() as tx:
            return status.request_run(tx, name)

    @rpc
    def run_sync(self, name: str) -> dict[str, Any]:
        """Run it now, in this worker, and answer the run (operators' tools and tests)."""
        self._operator()
        with self.db.transaction() as tx:
            status.status(tx, name)  # NotFound for an unknown name
        done = runner.run(self.db, name, "rpc", _OWNER, self.members)
        if done is None:
            raise Conflict(f"connection {name!r} is being synced by another run", "name")
        return status.run_out(done)

    @timer(interval=TICK_SECONDS)
    def sync_due(self) -> None:
        """Run every connection that is due, one after another (each held by its lease)."""
        while runner.run(self.db, None, "timer", _OWNER, self.members) is not None:
            pass
