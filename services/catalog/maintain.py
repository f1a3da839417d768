"""Use cases that write master data: create, update (with the version read), bulk upsert from a
source. Each change bumps the version and records its event in the outbox, in one transaction."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from contracts.catalog import UpsertResult
from contracts.errors import Conflict, InvalidInput, NotFound
from service_runtime.base import parse_request
from service_runtime.db import Tx
from services.catalog import domain
from services.catalog.kinds import Spec
from services.catalog.repo import records

MAX_BULK = 500
SOURCE = re.compile(r"^[a-z][a-z0-9_\-]{0,39}$")


def _announce(tx: Tx, spec: Spec, change: str, row: dict[str, Any]) -> dict[str, Any]:
    out: BaseModel = spec.out(row, spec.parents(tx))
    tx.emit(spec.event(change, out))
    return out.model_dump(mode="json")


def create(tx: Tx, spec: Spec, data: dict[str, Any]) -> dict[str, Any]:
    item = parse_request(spec.new, data)
    values = item.model_dump()
    key = values.pop(spec.kind.key)
    if records.get(tx, spec.kind, key) is not None:
        raise Conflict(f"{spec.kind.name} {key!r} exists; update it with If-Match", spec.kind.key)
    spec.references(tx, key, values)
    row = records.insert(tx, spec.kind, key, values, domain.MANUAL, None)
    if row is None:
        raise Conflict(f"{spec.kind.name} {key!r} was just created by another request", spec.kind.key)
    return _announce(tx, spec, "created", row)


def update(tx: Tx, spec: Spec, key: str, expected_version: int, changes: dict[str, Any]) -> dict[str, Any]:
    wanted = parse_request(spec.changes, changes).model_dump(exclude_unset=True)
    if not wanted:
        raise InvalidInput("nothing to change", None)
    for name, value in wanted.items():
        if value is None and not spec.kind.table.c[name].nullable:
            raise InvalidInput("cannot be removed", name)
    current = records.get(tx, spec.kind, key, lock=True)
    if current is None:
        raise NotFound(f"no {spec.kind.name} {key!r}", spec.kind.key)
    domain.check_version(current["version"], expected_version)
    spec.references(tx, key, wanted)
    diff = domain.changed(current, wanted)
    if not diff:  # nothing new: no version, no event
        return spec.out(current, spec.parents(tx)).model_dump(mode="json")
    return _announce(tx, spec, "updated", records.update(tx, spec.kind, key, diff, domain.MANUAL, None))


def _source_version(raw: Any) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise InvalidInput("must be a positive integer (the source's version of the record)", "version")
    return raw


def _upsert_one(tx: Tx, spec: Spec, data: dict[str, Any], source: str) -> UpsertResult:
    data = dict(data)
    source_version = _source_version(data.pop("version", None))
    values = parse_request(spec.new, data).model_dump()
    key = values.pop(spec.kind.key)
    current = records.get(tx, spec.kind, key, lock=True)
    decision = domain.upsert_decision(current, values, source, source_version)
    if decision == "unchanged":
        assert current is not None
        records.touch(tx, spec.kind, key)
        return UpsertResult(key=key, outcome="unchanged", version=current["version"])
    spec.references(tx, key, values)
    if decision == "create":
        row = records.insert(tx, spec.kind, key, values, source, source_version)
        if row is None:
            raise Conflict("created by another request meanwhile; send it again", spec.kind.key)
        _announce(tx, spec, "created", row)
        return UpsertResult(key=key, outcome="created", version=row["version"])
    assert current is not None
    row = records.update(tx, spec.kind, key, domain.changed(current, values), source, source_version)
    _announce(tx, spec, "updated", row)
    return UpsertResult(key=key, outcome="updated", version=row["version"])


def upsert_many(tx: Tx, spec: Spec, items: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """Each item on its own savepoint: a bad item is reported (its field named) and the rest go on."""
    if not SOURCE.match(source or ""):
        raise InvalidInput("`manual` or an adapter's name (lower case letters, digits, - and _)", "source")
    if not 1 <= len(items) <= MAX_BULK:
        raise InvalidInput(f"send 1 to {MAX_BULK} items", "items")
    results = []
    for index, data in enumerate(items):
        savepoint = tx.conn.begin_nested()
        try:
            if not isinstance(data, dict):
                raise InvalidInput("must be an object", None)
            result = _upsert_one(tx, spec, data, source)
            savepoint.commit()
        except (InvalidInput, Conflict) as exc:
            savepoint.rollback()
            key = data.get(spec.kind.key) if isinstance(data, dict) else None
            field = f"items.{index}" + (f".{exc.field}" if exc.field else "")
            result = UpsertResult(key=str(key or ""), outcome="error", field=field, message=exc.message)
        results.append(result.model_dump(mode="json"))
    return results
