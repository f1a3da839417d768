"""One connection's outbound writes, after its inbound sync: members registered here become the ERP's
customers (read from the change feed by a durable cursor), and each day's change in points liability
becomes a journal entry. Every write is recorded in erp_pushes once the ERP answered, and each adapter
finds its record by our external id before creating one: a rerun or a retry never writes twice."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from service_runtime.db import WorkerDb
from services.catalog.erp import metrics, repo
from services.catalog.erp.interface import AdapterError, Cursor
from services.catalog.erp.outbound import Outbound, PushKind, customer_of, liability_entry, total_value

CUSTOMER_CURSOR, JOURNAL_CURSOR = "push:customer", "push:journal"
MAX_DAYS = 31  # a connection back after a long pause catches up a month a run


class Feed(Protocol):
    def read(self, after: str | None = None, types: list[str] | None = None, limit: int = 100) -> dict[str, Any]: ...


class Points(Protocol):
    def liability(self, day_from: str, day_to: str, store: str | None = None) -> list[dict[str, Any]]: ...


def run(db: WorkerDb, connection: dict[str, Any], adapter: Any, feed: Feed | None, points: Points | None) -> int:
    """Push what the connection's ``options.outbound`` asks for; answers how many records were written."""
    options = connection["options"] or {}
    wanted = options.get("outbound") or []
    if not wanted:
        return 0
    if not hasattr(adapter, "push"):
        raise AdapterError(f"a {connection['kind']} connection takes no writes")
    if feed is None or points is None:
        raise AdapterError("outbound writes need the feed and points services, which this runner was not given")
    written = 0
    if "customer" in wanted:
        written += _customers(db, connection, adapter, feed)
    if "journal" in wanted:
        written += _journals(db, connection, adapter, points)
    return written


def _push(db: WorkerDb, name: str, adapter: Outbound, kind: PushKind, external_id: str, data: dict[str, Any]) -> int:
    with db.transaction() as tx:
        if repo.pushed(tx, name, kind, external_id):
            return 0
    remote = adapter.push(kind, external_id, data)
    with db.transaction() as tx:
        repo.record_push(tx, name, kind, external_id, remote)
    metrics.PUSHED.labels(name, kind).inc()
    return 1


def _customers(db: WorkerDb, connection: dict[str, Any], adapter: Outbound, feed: Feed) -> int:
    name = str(connection["name"])
    with db.transaction() as tx:
        after = (repo.cursors(tx, name).get(CUSTOMER_CURSOR) or Cursor()).stamp or connection["options"].get(
            "customers_after")
    written = 0
    while True:
        page = feed.read(after=after, types=["member.registered"], limit=int(connection["page_size"]))
        for item in page["items"]:
            customer = customer_of(item)
            if customer is not None:
                written += _push(db, name, adapter, "customer", *customer)
        after = page["next_cursor"]
        with db.transaction() as tx:  # a crash mid-page re-reads it; erp_pushes skips what went
            repo.save_cursor(tx, name, CUSTOMER_CURSOR, Cursor(after, None))
        if not page["has_more"]:
            return written


def _journals(db: WorkerDb, connection: dict[str, Any], adapter: Outbound, points: Points) -> int:
    name, options = str(connection["name"]), connection["options"] or {}
    accounts = options.get("liability_accounts") or {}
    if not {"expense", "liability"} <= set(accounts):
        raise AdapterError("a journal push needs options.liability_accounts with expense and liability")
    yesterday = datetime.now(UTC).astimezone(ZoneInfo(str(options.get("time_zone", "UTC")))).date() - timedelta(days=1)
    with db.transaction() as tx:
        cursor = repo.cursors(tx, name).get(JOURNAL_CURSOR)
    day = date.fromisoformat(cursor.stamp) + timedelta(days=1) if cursor and cursor.stamp else yesterday
    written = 0
    for _ in range(MAX_DAYS):
        if day > yesterday:
            break
        rows = points.liability(day_from=(day - timedelta(days=1)).isoformat(), day_to=day.isoformat())
        entry = liability_entry(day, total_value(rows, day - timedelta(days=1)), total_value(rows, day),
                                {k: str(v) for k, v in accounts.items()})
        if entry is not None:
            written += _push(db, name, adapter, "journal", f"loyalty-liability-{day.isoformat()}",
                             {**entry, "journal": options.get("journal")})
        with db.transaction() as tx:
            repo.save_cursor(tx, name, JOURNAL_CURSOR, Cursor(day.isoformat(), None))
        day += timedelta(days=1)
    return written
