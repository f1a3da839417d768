"""One sync run of one connection: hold its lease, then for each kind pull pages after the durable
cursor and write each page *with its cursor* in one transaction, so a crash anywhere resumes after the
last page written and a rerun writes nothing twice. Customers go to the members service's import."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from service_runtime.db import WorkerDb
from services.catalog.erp import apply, connections, metrics, pushing, repo, values
from services.catalog.erp.interface import (
    KINDS,
    Adapter,
    AdapterError,
    AuthFailed,
    Cursor,
    Kind,
    Page,
    SourceUnavailable,
)

log = logging.getLogger(__name__)
LOOKBACK_SECONDS = 60  # ERPs stamp a write with its transaction's start: re-read this much at each run
LEASE_SECONDS = 300.0  # renewed after every page; a dead runner's connection is free again after this


class Members(Protocol):
    """The members service's import path (nameko ServiceRpc in the service)."""

    def start_import(self, source: str, format: str, encoding: str) -> dict[str, Any]: ...

    def import_batch(self, job_id: str, batch_no: int, rows: list[dict[str, Any]]) -> dict[str, Any]: ...

    def finish_import(self, job_id: str, error: str | None = None) -> dict[str, Any]: ...


@dataclass
class _Run:
    db: WorkerDb
    connection: dict[str, Any]
    owner: str
    run_id: int
    members: Members | None
    kept_errors: int = 0
    job: dict[str, Any] | None = None
    batch_no: int = 0

    @property
    def name(self) -> str:
        return str(self.connection["name"])


def _failure_kind(exc: BaseException) -> str:
    if isinstance(exc, AuthFailed):
        return "auth"
    if isinstance(exc, SourceUnavailable):
        return "unavailable"
    return "source" if isinstance(exc, AdapterError) else "internal"


def run(db: WorkerDb, name: str | None, trigger: str, owner: str, members: Members | None,
        make_adapter: Callable[[dict[str, Any]], Adapter] = connections.adapter_for,
        feed: pushing.Feed | None = None, points: pushing.Points | None = None) -> dict[str, Any] | None:
    """Run ``name`` (or the first due connection); None when it is held by another run or none is due."""
    with db.transaction() as tx:
        connection = repo.claim(tx, name, owner, LEASE_SECONDS)
        if connection is None:
            return None
        state = _Run(db, connection, owner, repo.start_run(tx, connection["name"], trigger), members)
    failure: str | None = None
    failure_kind: str | None = None
    try:
        adapter = make_adapter(connection)
        adapter.check()
        wanted = connection["options"].get("kinds") or adapter.kinds()
        for kind in KINDS:
            if kind in wanted and kind in adapter.kinds():
                _sync_kind(state, adapter, kind)
        written = pushing.run(db, connection, adapter, feed, points)
        if written:
            with db.transaction() as tx:
                repo.add_progress(tx, state.run_id, 0, written, [], 0)
    except Exception as exc:  # the run records why it stopped; the cursor stays after the last page written
        failure_kind = _failure_kind(exc)
        failure = exc.message if isinstance(exc, AdapterError) else f"{exc.__class__.__name__}: {exc}"
        if failure_kind == "internal":
            log.exception("ERP sync of %s failed", state.name)
    finally:
        _finish_import(state, failure)
        with db.transaction() as tx:
            done = repo.finish_run(tx, state.run_id, failure, failure_kind)
            repo.release(tx, state.name, owner)
    metrics.RUNS.labels(state.name, done["status"], failure_kind or "").inc()
    if failure is None:
        metrics.LAST_SUCCESS.labels(state.name).set(done["finished_at"].timestamp())
    return done


def _pages(state: _Run, adapter: Adapter, kind: Kind) -> Any:
    with state.db.transaction() as tx:
        cursor = repo.cursors(tx, state.name).get(kind) or Cursor()
    lookback = int((state.connection["options"] or {}).get("lookback_seconds", LOOKBACK_SECONDS))
    if cursor.stamp and lookback:  # a record committed late with an earlier stamp is read again, not lost
        cursor = Cursor(values.rewind(cursor.stamp, lookback), None)
    while True:
        page = adapter.pull(kind, cursor, int(state.connection["page_size"]))
        yield page
        cursor = page.next
        if not page.more:
            return


def _sync_kind(state: _Run, adapter: Adapter, kind: Kind) -> None:
    if kind == "category":  # the whole change set at once, parents before children
        pages = list(_pages(state, adapter, kind))
        if pages:
            merged = Page([r for p in pages for r in p.records], [x for p in pages for x in p.rejected], pages[-1].next)
            _write(state, kind, merged, apply.parents_first(merged.records))
        return
    for page in _pages(state, adapter, kind):
        _write(state, kind, page, page.records)


def _write(state: _Run, kind: Kind, page: Page, ordered: list[Any]) -> None:
    options = state.connection["options"] or {}
    defaults = {"time_zone": options.get("time_zone", "UTC"), "currency": options.get("currency", "CNY"),
                "unit_price": "0.00"}  # a new product whose ERP holds no price (Kingdee without a price list)
    errors = [apply.rejected_error(x) for x in page.rejected]
    customers = apply.Applied()
    if kind == "customer":  # outside our transaction: the members import is idempotent by phone
        customers = _import_customers(state, page)
    with state.db.transaction() as tx:
        if kind == "sale":
            done = apply.sales(tx, ordered, state.name, defaults["time_zone"])
        elif kind == "customer":
            done = customers
        else:
            done = apply.master_data(tx, kind, ordered, state.name, defaults)
        errors += done.errors
        keep = errors[:max(0, repo.MAX_RUN_ERRORS - state.kept_errors)]
        repo.save_cursor(tx, state.name, kind, page.next)
        repo.add_progress(tx, state.run_id, len(page.records) + len(page.rejected), done.written, keep, len(errors))
        repo.renew(tx, state.name, state.owner, LEASE_SECONDS)
    state.kept_errors += len(keep)
    metrics.ROWS_IN.labels(state.name, kind).inc(len(page.records) + len(page.rejected))
    metrics.ROWS_OUT.labels(state.name, kind).inc(done.written)
    metrics.ERRORS.labels(state.name, kind).inc(len(errors))


def _import_customers(state: _Run, page: Page) -> apply.Applied:
    out = apply.Applied()
    if not page.records:
        return out
    if state.members is None:
        raise AdapterError("customers need the members service, which this runner was not given")
    if state.job is None:
        state.job = state.members.start_import(state.name.replace("_", "-")[:32], "erp", "utf-8")
    job_id = str(state.job["job_id"])
    created, failed = int(state.job.get("rows_created", 0)), int(state.job.get("rows_failed", 0))
    rows = [{"line": state.batch_no * 1000 + n + 1, "fields": r.data} for n, r in enumerate(page.records)]
    state.job = state.members.import_batch(job_id, batch_no=state.batch_no, rows=rows)
    state.batch_no += 1
    out.written = int(state.job.get("rows_created", 0)) - created
    refused = int(state.job.get("rows_failed", 0)) - failed
    if refused:  # the members import keeps each refused row's line, field and reason
        out.errors.append({"kind": "customer", "external_id": None, "field": None,
                           "message": f"{refused} customers refused by members import {job_id} (its errors list "
                                      "each one)"})
    return out


def _finish_import(state: _Run, failure: str | None) -> None:
    if state.job is not None and state.members is not None:
        try:
            state.members.finish_import(str(state.job["job_id"]), failure)
        except Exception:  # the job stays open; the members service reports it as running
            log.exception("could not close members import %s", state.job.get("job_id"))
