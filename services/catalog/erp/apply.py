"""Writing one page of source records: stores, categories and products through the catalog's own bulk
upsert (source = the connection's name, so events go out as for any edit), sales into erp_sales. Each
record on its own: a bad one is reported with its field and the rest go on."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contracts.envelope import EventPayload
from contracts.erp_sync import ErpSaleRecorded
from service_runtime.db import Tx
from services.catalog import maintain
from services.catalog.domain import BOOKKEEPING
from services.catalog.erp import repo
from services.catalog.erp.interface import Record, Rejected
from services.catalog.kinds import SPECS
from services.catalog.repo import STORES, records


@dataclass
class Applied:
    written: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def rejected_error(item: Rejected) -> dict[str, Any]:
    return {"kind": item.kind, "external_id": item.external_id, "field": item.field, "message": item.message}


def _fill(tx: Tx, kind: str, data: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Fields the source left out keep the record's current value (a new record takes the connection's
    defaults): an ERP that does not know a store's zone or a product's loyalty flags never resets them."""
    spec = SPECS[kind]
    current = records.get(tx, spec.kind, str(data.get(spec.kind.key, "")))
    filled = dict(data)
    for name in spec.new.model_fields:
        if name in filled:
            continue
        if current is not None and name in current and name not in BOOKKEEPING:
            filled[name] = current[name].isoformat() if isinstance(current[name], date) else current[name]
        elif name in defaults:
            filled[name] = defaults[name]
    if current is not None and "unit_price" in filled and not isinstance(filled["unit_price"], str):
        filled["unit_price"] = str(filled["unit_price"])
    return filled


def master_data(tx: Tx, kind: str, items: list[Record], source: str, defaults: dict[str, Any]) -> Applied:
    """Categories, stores or products through maintain.upsert_many (idempotent per source and version).
    Records this source already sent at this version (a rerun, the lookback) are set aside in one query
    first: a rerun costs a read a page, not the upsert's work per record."""
    out = Applied()
    spec = SPECS[kind]
    seen = repo.seen_versions(tx, spec.kind, source, [str(r.data.get(spec.kind.key)) for r in items])
    known = [r for r in items if r.version <= seen.get(str(r.data.get(spec.kind.key)), 0)]
    repo.touch_many(tx, spec.kind, [str(r.data.get(spec.kind.key)) for r in known])  # re-read: nothing new
    items = [r for r in items if r.version > seen.get(str(r.data.get(spec.kind.key)), 0)]
    if not items:
        return out
    payload = [{**_fill(tx, kind, r.data, defaults), "version": r.version} for r in items]
    for record, result in zip(items, maintain.upsert_many(tx, spec, payload, source), strict=True):
        if result["outcome"] in ("created", "updated"):
            out.written += 1
        elif result["outcome"] == "error":
            parts = str(result.get("field") or "").split(".", 2)  # items.<n>.<field>
            out.errors.append({"kind": kind, "external_id": record.external_id,
                               "field": parts[2] if len(parts) == 3 else None,
                               "message": result.get("message")})
    return out


def parents_first(items: list[Record]) -> list[Record]:
    """Categories ordered so each parent comes before its children (a source lists them by modification
    time, and a parent edited after its child would otherwise be missing when the child arrives)."""
    by_code = {r.data.get("code"): r for r in items}
    done: set[Any] = set()
    ordered: list[Record] = []

    def visit(record: Record, trail: set[Any]) -> None:
        code = record.data.get("code")
        if code in done or code in trail:
            return
        parent = by_code.get(record.data.get("parent"))
        if parent is not None:
            visit(parent, trail | {code})
        done.add(code)
        ordered.append(record)

    for record in items:
        visit(record, set())
    return ordered


def _zone(tx: Tx, store: str, fallback: str) -> ZoneInfo:
    row = records.get(tx, STORES, store)
    try:
        return ZoneInfo(row["time_zone"] if row else fallback)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def sales(tx: Tx, items: list[Record], connection: str, default_zone: str) -> Applied:
    """ERP sales into erp_sales: a sale seen again at the same or an older version writes nothing."""
    out = Applied()
    zones: dict[str, ZoneInfo] = {}  # a page's sales are mostly of a few stores
    recorded: list[EventPayload] = []
    for record in items:
        sale = dict(record.data)
        try:
            if not sale.get("transaction_id") or not sale.get("store"):
                raise ValueError("transaction_id and store are required")
            if isinstance(sale.get("amount_cents"), bool) or not isinstance(sale.get("amount_cents"), int):
                raise ValueError("amount_cents must be an integer")
            occurred = datetime.fromisoformat(str(sale["occurred_at"]))
            if occurred.tzinfo is None:
                raise ValueError("occurred_at needs its offset")
        except (ValueError, KeyError) as exc:
            out.errors.append({"kind": "sale", "external_id": record.external_id, "field": None,
                               "message": str(exc)})
            continue
        sale["occurred_at"] = occurred
        if not sale.get("day") and sale["store"] not in zones:
            zones[sale["store"]] = _zone(tx, sale["store"], default_zone)
        sale["day"] = (date.fromisoformat(sale["day"]) if sale.get("day")
                       else occurred.astimezone(zones[sale["store"]]).date())
        sale.setdefault("member_ref", None)
        sale.setdefault("lines", [])
        if repo.upsert_sale(tx, connection, sale, record.version):
            out.written += 1
            recorded.append(ErpSaleRecorded(connection=connection, transaction_id=sale["transaction_id"],
                                            version=record.version, store=sale["store"], occurred_at=occurred,
                                            amount_cents=sale["amount_cents"]))
    tx.emit_many(recorded)  # analytics' "all sales"
    return out
