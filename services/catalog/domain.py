"""Pure master-data rules: versions and bulk-upsert idempotency, the category tree. No I/O, no clock.
(The policy for sales naming unknown or closed stores and unknown SKUs is enforced by points, which
holds the read model: services/points/catalog_rules.py.)"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from contracts.errors import Conflict, InvalidInput

MANUAL = "manual"
Decision = Literal["create", "update", "unchanged"]
# fields a record carries beside its data (never compared as content)
BOOKKEEPING = frozenset({"version", "source", "source_version", "last_synced_at", "updated_at"})


def check_version(current: int, expected: int) -> None:
    """An update must name the version it read (optimistic concurrency; the gateway answers 412)."""
    if current != expected:
        raise Conflict(f"the record is at version {current}, not {expected}: read it again", "If-Match")


def changed(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``wanted`` whose value differs from ``current``."""
    return {k: v for k, v in wanted.items() if k not in BOOKKEEPING and current.get(k) != v}


def upsert_decision(current: Mapping[str, Any] | None, wanted: Mapping[str, Any], source: str,
                    source_version: int | None) -> Decision:
    """What a bulk upsert does with one item. Idempotent per source, key and source version: the same
    item sent again, or an older version from the same source, changes nothing."""
    if current is None:
        return "create"
    same_source = current.get("source") == source
    seen = current.get("source_version")
    if same_source and source_version is not None and seen is not None and source_version <= seen:
        return "unchanged"
    return "update" if changed(current, wanted) else "unchanged"


def category_path(code: str, parents: Mapping[str, str | None]) -> list[str]:
    """Codes from the root down to ``code`` (``parents`` maps a code to its parent code)."""
    path = [code]
    seen = {code}
    parent = parents.get(code)
    while parent is not None:
        if parent in seen:  # a cycle can only come from data written around these rules
            break
        path.append(parent)
        seen.add(parent)
        parent = parents.get(parent)
    return list(reversed(path))


def check_parent(code: str, parent: str | None, parents: Mapping[str, str | None]) -> None:
    """A category's parent must exist and must not be the category itself or one of its descendants."""
    if parent is None:
        return
    if parent not in parents:
        raise InvalidInput(f"no category {parent!r}", "parent")
    if code in category_path(parent, parents):
        raise InvalidInput(f"{parent!r} is {code!r} or below it: the tree would loop", "parent")

