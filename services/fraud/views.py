"""Facts and rows to the contract's shapes."""
from __future__ import annotations

from typing import Any

from contracts.fraud import RuleConfig
from services.fraud.rules import Fact


def evidence(fact: Fact) -> dict[str, Any]:
    return {"event_id": fact.event_id, "kind": fact.kind, "at": fact.at.isoformat(), "store": fact.store,
            "terminal": fact.terminal, "member_id": fact.member_id, "reference": fact.reference,
            "amount": None if fact.amount is None else str(fact.amount), "points": fact.points,
            "flags": sorted(fact.flags)}


def alert(row: dict[str, Any]) -> dict[str, Any]:
    kind, _, ident = row["subject"].partition(":")
    stamp = {k: row[k].isoformat() if row.get(k) else None
             for k in ("first_at", "last_at", "created_at", "updated_at", "acknowledged_at")}
    return {"alert_id": str(row["id"]), "rule": row["rule"], "severity": row["severity"], "status": row["status"],
            "subject_kind": kind, "subject_id": ident, "stores": list(row["stores"]), "summary": row["summary"],
            "measure": dict(row["measure"]), "evidence": list(row["evidence"]), **stamp,
            "acknowledged_by": row.get("acknowledged_by"), "note": row.get("note")}


def rule(config: RuleConfig) -> dict[str, Any]:
    return config.model_dump(mode="json")

