"""The review queue and the rules, each inside the caller's transaction: list and read alerts,
acknowledge one with a note (who and when kept on it), read and change the rules."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.access import Caller, parse_id
from contracts.errors import Conflict, NotFound
from contracts.fraud import Acknowledge, AlertQuery, RuleUpdate
from service_runtime import cursors
from service_runtime.db import Tx
from services.fraud import access, repo, rules, views


def page(tx: Tx, caller: Caller, query: AlertQuery) -> dict[str, Any]:
    filters: dict[str, Any] = query.model_dump(exclude={"after", "limit"})
    filters.update(access.list_scope(caller))
    rows = repo.page(tx, filters, cursors.position(query.after), query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    return {"items": [views.alert(r) for r in rows], "next": cursors.cursor(rows[-1]) if more else None}


def _alert(tx: Tx, caller: Caller, alert_id: str, action: str) -> dict[str, Any]:
    row = repo.get_alert(tx, parse_id(alert_id, "alert_id", "an alert id"), lock=action != "read")
    if row is None:
        raise NotFound("no such alert", "alert_id")
    access.check(caller, action, row["stores"])
    return row


def get(tx: Tx, caller: Caller, alert_id: str) -> dict[str, Any]:
    return views.alert(_alert(tx, caller, alert_id, "read"))


def acknowledge(tx: Tx, caller: Caller, cmd: Acknowledge, now: datetime) -> dict[str, Any]:
    """A manager has looked at it: the alert leaves the open queue with their note. Facts up to its
    last one do not raise this rule for this subject again; later ones open a new alert."""
    row = _alert(tx, caller, cmd.alert_id, "acknowledge")
    if row["status"] != "open":
        raise Conflict(f"this alert was acknowledged by {row['acknowledged_by']}", "alert_id")
    by = caller.id or caller.kind
    return views.alert(repo.update_alert(tx, row["id"], status="acknowledged", acknowledged_at=now,
                                         acknowledged_by=by, note=cmd.note, updated_at=now))


def list_rules(tx: Tx, caller: Caller) -> list[dict[str, Any]]:
    access.check(caller, "read")
    return [views.rule(c) for c in rules.configs(repo.stored_rules(tx)).values()]


def set_rule(tx: Tx, caller: Caller, cmd: RuleUpdate, now: datetime) -> dict[str, Any]:
    access.check(caller, "configure")
    current = rules.configs(repo.stored_rules(tx))[cmd.rule]
    repo.save_rule(tx, cmd.rule, rules.changed(current, cmd), now, caller.id or caller.kind)
    return views.rule(rules.configs(repo.stored_rules(tx))[cmd.rule])
