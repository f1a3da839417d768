"""Use cases for operators: declare a connection, read each connection's status (last run, cursors,
lag, next run), ask for a run."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.erp_sync import ConnectionIn, ConnectionStatus, CursorOut, RunOut
from contracts.errors import InvalidInput, NotFound
from service_runtime.base import parse_request
from service_runtime.db import Tx
from services.catalog.erp import metrics, repo
from services.catalog.erp.connections import NAME


def _name(name: str) -> str:
    if not NAME.match(name or ""):
        raise InvalidInput("lower case letters, digits, - and _, starting with a letter (up to 40)", "name")
    return name


def put(tx: Tx, name: str, data: dict[str, Any]) -> dict[str, Any]:
    """Create or replace a connection's declaration (its cursors and runs stay)."""
    declared: ConnectionIn = parse_request(ConnectionIn, data)
    if declared.kind in ("odoo_xmlrpc", "kingdee") and not (declared.database and declared.username):
        raise InvalidInput(f"a {declared.kind} connection needs its database and username", "username")
    repo.put_connection(tx, _name(name), declared.model_dump(mode="json"))
    return status(tx, name)


def status(tx: Tx, name: str) -> dict[str, Any]:
    row = repo.connection(tx, _name(name))
    if row is None:
        raise NotFound(f"no connection {name!r}", "name")
    return _status(tx, row)


def all_status(tx: Tx) -> list[dict[str, Any]]:
    return [_status(tx, row) for row in repo.connections(tx)]


def _status(tx: Tx, row: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    last = repo.runs(tx, row["name"], 1)
    success = repo.last_success(tx, row["name"])
    done_at = success["finished_at"] if success else None
    return ConnectionStatus(
        **{k: row[k] for k in ("name", "kind", "base_url", "database", "username", "credentials_ref", "enabled",
                               "interval_seconds", "page_size", "options", "next_run_at", "run_requested_at")},
        running=row["lease_until"] is not None and row["lease_until"] > now,
        last_run=RunOut.model_validate(last[0]) if last else None,
        last_success_at=done_at, lag_seconds=(now - done_at).total_seconds() if done_at else None,
        cursors=[CursorOut.model_validate(c) for c in repo.cursor_rows(tx, row["name"])],
    ).model_dump(mode="json")


def request_run(tx: Tx, name: str) -> dict[str, Any]:
    """Run at the next timer tick, enabled or not (the answer is the status, with run_requested_at)."""
    if not repo.request_run(tx, _name(name)):
        raise NotFound(f"no connection {name!r}", "name")
    return status(tx, name)


def run_out(run: dict[str, Any]) -> dict[str, Any]:
    return RunOut.model_validate(run).model_dump(mode="json")


def publish_health(tx: Tx) -> None:
    """The sync-health gauges the alert LoyaltyErpSyncStale reads, from the database."""
    metrics.SUCCESS_AGE.clear()
    metrics.INTERVAL.clear()
    for row in repo.health(tx):
        metrics.SUCCESS_AGE.labels(row.name).set(float(row.age))
        metrics.INTERVAL.labels(row.name).set(row.interval_seconds)
