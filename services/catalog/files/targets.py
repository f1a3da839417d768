"""Where a file's rows go, by its kind: stores, categories and products to the catalog's own bulk
upsert; members to the members service's import path; sales to points' offline upload (accrual)
or its history import; balances and tiers to a points migration import (approved and applied
through the API). Each ``send`` takes one batch of (line, fields) and answers the rows it refused
as (line, field, message); sending a batch again creates nothing twice."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

import eventlet

from service_runtime.db import WorkerDb
from services.catalog import maintain
from services.catalog.files import mapping, runs
from services.catalog.files.formats import RowProblem
from services.catalog.kinds import SPECS

RPC_SECONDS = 300  # one batch; a points or members that does not answer releases the run for a retry
RowError = tuple[int, str | None, str]
Batch = list[tuple[int, dict[str, Any]]]
_ITEM_FIELD = re.compile(r"^items\.(\d+)(?:\.(.*))?$")


class Target(Protocol):
    in_flight: int  # batches sent at once (a target with state to set up on its first batch: 1)

    def send(self, batch_no: int, rows: Batch) -> list[RowError]: ...

    def finish(self) -> list[RowError]: ...


def _call(method: Callable[..., Any], **kwargs: Any) -> Any:
    with eventlet.Timeout(RPC_SECONDS):
        return method(**kwargs)


def _answered(results: list[dict[str, Any]], lines: list[int]) -> list[RowError]:
    """Per-item answers (``items.N.field`` errors) as the rows' lines and fields."""
    errors = []
    for result in results:
        problem = result.get("error")
        if result.get("ok", True) and result.get("outcome") != "error":
            continue
        field = (problem or {}).get("field") if problem else result.get("field")
        message = (problem or {}).get("message") if problem else result.get("message")
        match = _ITEM_FIELD.match(field or "")
        index = int(match.group(1)) if match else int(result.get("index", 0))
        errors.append((lines[index], match.group(2) if match else field, str(message)))
    return errors


def _mapped(rows: Batch, to: Callable[[dict[str, Any]], dict[str, Any] | RowProblem]
            ) -> tuple[list[dict[str, Any]], list[int], list[RowError]]:
    items, lines, errors = [], [], []
    for line, fields in rows:
        item = to(fields)
        if isinstance(item, RowProblem):
            errors.append((line, item.field, item.message))
        else:
            items.append(item)
            lines.append(line)
    return items, lines, errors


class CatalogTarget:
    in_flight = 1  # a category's parent may come in the batch before

    def __init__(self, db: WorkerDb, kind: str, source: str) -> None:
        self.db, self.spec, self.kind, self.source = db, SPECS[mapping.CATALOG_KINDS[kind]], kind, source

    def send(self, batch_no: int, rows: Batch) -> list[RowError]:
        items, lines, errors = _mapped(rows, lambda f: mapping.catalog_item(self.kind, f))
        if items:
            with self.db.transaction() as tx:
                errors += _answered(maintain.upsert_many(tx, self.spec, items, self.source), lines)
        return errors

    def finish(self) -> list[RowError]:
        return []


class SalesTarget:
    in_flight = 4  # points records batches side by side (its database waits overlap) while the next is read

    def __init__(self, points: Any, mode: str, zone_of: Callable[[str], str | None]) -> None:
        self.points, self.mode, self.zone_of = points, mode, zone_of

    def send(self, batch_no: int, rows: Batch) -> list[RowError]:
        items, lines, errors = _mapped(rows, lambda f: mapping.sale_item(f, self.zone_of))
        if items:
            method = self.points.record_history if self.mode == "history" else self.points.record_batch
            errors += _answered(_call(method, items=items)["results"], lines)
        return errors

    def finish(self) -> list[RowError]:
        return []


class MembersTarget:
    """Through the members service's import job (validated, encrypted, deduplicated there):
    batches are numbered by their place in the file, and members takes each (job, batch) once."""

    in_flight = 1  # the first batch opens the members job

    def __init__(self, db: WorkerDb, members: Any, run: Any, owner: str) -> None:
        self.db, self.members, self.run, self.owner = db, members, run, owner
        self.job_id: str | None = run.target_ref

    def send(self, batch_no: int, rows: Batch) -> list[RowError]:
        items, lines, errors = _mapped(rows, mapping.member_row)
        if items and self.job_id is None:
            job = _call(self.members.start_import, source=self.run.source, format="json", encoding="utf-8")
            self.job_id = job["job_id"]
            with self.db.transaction() as tx:
                runs.set_target(tx, self.run.id, self.owner, job["job_id"])
        if items:
            _call(self.members.import_batch, job_id=self.job_id, batch_no=batch_no,
                  rows=[{"line": line, "fields": item} for line, item in zip(lines, items, strict=True)])
        return errors

    def finish(self) -> list[RowError]:
        """Close the members job; its refused rows join the run's errors."""
        if self.job_id is None:
            return []
        _call(self.members.finish_import, job_id=self.job_id)
        errors: list[RowError] = []
        after = 0
        while True:
            page = _call(self.members.import_errors, job_id=self.job_id, after_line=after, limit=500)
            errors += [(e["line"], e.get("field"), e["message"]) for e in page]
            if len(page) < 500:
                return errors
            after = page[-1]["line"]


class MigrationTarget:
    """Rows staged into a points migration import, approved and applied by admins afterwards."""

    in_flight = 1  # the first batch creates the migration import

    def __init__(self, db: WorkerDb, points: Any, run: Any, owner: str) -> None:
        self.db, self.points, self.run, self.owner = db, points, run, owner
        self.import_id: str | None = run.target_ref

    def send(self, batch_no: int, rows: Batch) -> list[RowError]:
        if self.import_id is None:
            # whoever brought the file is its import's creator, who may not approve it too
            uploader = self.points.acting_for(self.run.created_by or f"files:{self.run.source}")
            created = _call(uploader.create_migration, kind=self.run.kind, source=self.run.source,
                            note=f"file {self.run.name}")
            self.import_id = created["import_id"]
            with self.db.transaction() as tx:
                runs.set_target(tx, self.run.id, self.owner, created["import_id"])
        staged = _call(self.points.stage_migration, import_id=self.import_id,
                       rows=[{"line": line, "fields": mapping.migration_row(f)} for line, f in rows])
        return [(e["line"], e.get("field"), e["message"]) for e in staged["batch_errors"]]

    def finish(self) -> list[RowError]:
        return []


def for_run(db: WorkerDb, members: Any, points: Any, run: Any, owner: str,
            zone_of: Callable[[str], str | None]) -> Target:
    if run.kind in mapping.CATALOG_KINDS:
        return CatalogTarget(db, run.kind, run.source)
    if run.kind == "members":
        return MembersTarget(db, members, run, owner)
    if run.kind == "sales":
        return SalesTarget(points, run.mode or "history", zone_of)
    return MigrationTarget(db, points, run, owner)
