"""The catalog service's ERP sync entrypoints (mixed into CatalogService): operators declare connections
and read their status; a timer runs each connection when due; a run can be asked for or run now."""
from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from nameko import rpc as nameko_rpc
from nameko.timer import timer

from contracts.access import MASTER_DATA, RECONCILERS, Caller, require
from contracts.errors import Conflict
from service_runtime.callers import SignedServiceRpc
from service_runtime.config import env_int
from service_runtime.db import WorkerDb
from services.catalog.erp import reconciliation, runner, status

F = TypeVar("F", bound=Callable[..., Any])
rpc = cast(Callable[[F], F], nameko_rpc.rpc)
TICK_SECONDS = env_int("CATALOG_ERP_TICK_SECONDS", 5)  # how often due connections are looked for
RECONCILE_SECONDS = env_int("CATALOG_RECONCILE_SECONDS", 3600)  # yesterday is reconciled again this often
_OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"  # this process, as a lease holder


class SyncEntrypoints:
    db: WorkerDb
    caller: Caller
    members = SignedServiceRpc("members")  # the members import path, for customers
    points = SignedServiceRpc("points")  # the sales the ledger accrued, for reconciliation; liability
    feed = SignedServiceRpc("feed")  # members registered here, for outbound customer writes

    def _operator(self) -> None:
        require(self.caller, MASTER_DATA)  # ERP sync writes master data: admins and ERP keys

    def _reconciler(self, store: str) -> None:
        require(self.caller, RECONCILERS, store=store)

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
        done = runner.run(self.db, name, "rpc", _OWNER, self.members, feed=self.feed, points=self.points)
        if done is None:
            raise Conflict(f"connection {name!r} is being synced by another run", "name")
        return status.run_out(done)

    @timer(interval=TICK_SECONDS)
    def sync_due(self) -> None:
        """Run every connection that is due, one after another (each held by its lease)."""
        with self.db.transaction() as tx:
            status.publish_health(tx)
        while runner.run(self.db, None, "timer", _OWNER, self.members, feed=self.feed,
                         points=self.points) is not None:
            pass

    # -- reconciliation ------------------------------------------------------------------------------
    @rpc
    def reconcile(self, store: str, day: str) -> dict[str, Any]:
        """One store's day: ERP sales against the sales the points ledger accrued (computed now)."""
        self._reconciler(store)
        return reconciliation.store_day(self.db, self.points, store, reconciliation.parse_day(day))

    @rpc
    def run_reconciliation(self, day: str) -> list[dict[str, Any]]:
        self._operator()
        return reconciliation.run_day(self.db, self.points, reconciliation.parse_day(day))

    @timer(interval=RECONCILE_SECONDS)
    def reconcile_yesterday(self) -> None:
        """The job: every store the ERP sold in yesterday (late ERP data is caught by the next hour's run)."""
        reconciliation.run_day(self.db, self.points, (datetime.now(UTC) - timedelta(days=1)).date())
