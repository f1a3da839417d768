"""Facts in, alerts out, inside the handler's transaction: store the facts of a batch of events
(flagged as they arrive), then evaluate the rules they set off for their subjects over the windows
kept in the facts table, and raise or extend one open alert per rule and subject."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from contracts.envelope import Envelope, EventPayload
from contracts.fraud import RuleConfig
from service_runtime.db import Tx
from services.fraud import facts, repo, rules, views
from services.fraud.facts import Registration
from services.fraud.rules import FRESH_MEMBER, Fact, Finding

EVIDENCE_KEPT = 100  # an alert keeps its latest facts; the count says how many there were


def configs(tx: Tx) -> dict[str, RuleConfig]:
    return rules.configs(repo.stored_rules(tx))


def take(tx: Tx, events: Sequence[tuple[EventPayload, Envelope]], now: datetime) -> list[Finding]:
    """A batch of events as a handler gets them."""
    gathered = facts.gather(events)
    return ingest(tx, gathered.facts, now, gathered.registrations, gathered.returned)


def ingest(tx: Tx, incoming: Sequence[Fact], now: datetime, regs: Sequence[Registration] = (),
           returned: dict[str, int] | None = None) -> list[Finding]:
    """Store and evaluate a batch of facts; ``returned``: points given back by refunds, by event id.
    The findings raised or extended an alert each."""
    config = configs(tx)
    repo.add_registrations(tx, regs)
    flagged = _flag(tx, incoming, config, returned or {})
    stored = repo.add_facts(tx, flagged)
    triggers = [f for f in flagged if (f.event_id, f.subject) in stored]
    triggers += _fresh_after_the_fact(tx, regs, config)
    findings = evaluate(tx, triggers, config)
    for finding in findings:
        raise_alert(tx, finding, config[finding.rule], now)
    return findings


def _flag(tx: Tx, incoming: Sequence[Fact], config: dict[str, RuleConfig], returned: dict[str, int]) -> list[Fact]:
    sales = [f for f in incoming if f.kind == "sale"]
    refunds = [f for f in incoming if f.kind == "refund"]
    born = repo.registered_at(tx, (f.member_id for f in sales if f.member_id))
    gap = timedelta(seconds=config["refund_after_redemption"].gap_seconds or 0)
    redeemed = repo.redemptions(tx, (f.member_id for f in refunds if f.member_id),
                                min((f.at for f in refunds), default=datetime.max) - gap,
                                max((f.at for f in refunds), default=datetime.min)) if refunds else {}
    out = []
    for fact in incoming:
        if fact.kind == "sale":
            fact = rules.flag_sale(fact, born.get(fact.member_id or ""), config)
        elif fact.kind == "refund":
            fact = rules.flag_refund(fact, returned.get(fact.event_id, 0), redeemed.get(fact.member_id or "", []),
                                     config)
        out.append(fact)
    return out


def _fresh_after_the_fact(tx: Tx, regs: Sequence[Registration], config: dict[str, RuleConfig]) -> list[Fact]:
    """A registration that arrives after the member's first sales (another queue) flags them now."""
    fresh = timedelta(seconds=config["fresh_member_sales"].fresh_seconds or 0)
    return [f for r in regs for f in repo.flag_sales_of(tx, r.member_id, r.registered_at, r.registered_at + fresh,
                                                         FRESH_MEMBER)]


def evaluate(tx: Tx, triggers: Iterable[Fact], config: dict[str, RuleConfig]) -> list[Finding]:
    """Each (rule, subject) a new fact sets off, evaluated at that subject's latest new fact."""
    active = [name for name, c in config.items() if c.enabled]
    at: dict[tuple[str, str], datetime] = {}
    for fact in triggers:
        for rule in rules.rules_set_off(fact, active):
            key = (rule, fact.subject or "")
            at[key] = max(at.get(key, fact.at), fact.at)
    if not at:
        return []
    start = min(rules.window_start(config[rule], moment) for (rule, _), moment in at.items())
    window = repo.window(tx, sorted({subject for _, subject in at}), start, max(at.values()))
    by_subject: dict[str, list[Fact]] = {}
    for fact in window:
        by_subject.setdefault(fact.subject or "", []).append(fact)
    shares = {subject: (rules.window_start(config[rule], moment), moment) for (rule, subject), moment in at.items()
              if rule == "sales_under_threshold"}
    sales = repo.sale_counts(tx, shares)
    since = repo.acknowledged_until(tx, at)
    findings = []
    for (rule, subject), moment in sorted(at.items()):
        finding = rules.evaluate(config[rule], subject, by_subject.get(subject, []), moment,
                                 sales.get(subject, 0), since.get((rule, subject)))
        if finding is not None:
            findings.append(finding)
    return findings


def raise_alert(tx: Tx, finding: Finding, config: RuleConfig, now: datetime) -> dict[str, Any]:
    """A new open alert, or the open one of this rule and subject with the new evidence added."""
    repo.lock_subject(tx, finding.rule, finding.subject)
    current = repo.open_alert(tx, finding.rule, finding.subject)
    evidence = {e["event_id"]: e for e in (current["evidence"] if current else [])}
    evidence.update((e["event_id"], e) for e in (views.evidence(f) for f in finding.evidence))
    kept = sorted(evidence.values(), key=lambda e: (datetime.fromisoformat(e["at"]), e["event_id"]))[-EVIDENCE_KEPT:]
    stores = sorted({*(current["stores"] if current else []), *(f.store for f in finding.evidence if f.store)})
    first = min(f.at for f in finding.evidence)
    last = max(f.at for f in finding.evidence)
    values = {"severity": config.severity, "stores": stores, "summary": finding.summary, "measure": finding.measure,
              "evidence": kept, "updated_at": now}
    if current is not None:
        return repo.update_alert(tx, current["id"], **values, first_at=min(first, current["first_at"]),
                                 last_at=max(last, current["last_at"]))
    row = {**values, "id": str(uuid.uuid4()), "rule": finding.rule, "subject": finding.subject, "status": "open",
           "first_at": first, "last_at": last, "created_at": now}
    repo.insert_alert(tx, row)
    return row
