"""The fraud rules, pure: no I/O, no clock. A rule counts one kind of fact of one subject (a staff
member, a POS key, a device, a phone block) over a sliding window ending at a moment, and finds
the subject over its threshold with the facts that made it.

    finding = evaluate(config, "staff:clerk-7", facts, at)

Facts carry flags set when they arrive (``flag_sale``, ``flag_refund``): a sale just under a
watched amount, a sale on a member registered minutes before, a refund after a redemption."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from contracts.errors import InvalidInput
from contracts.fraud import RULE_NAMES, RuleConfig, RuleUpdate

UNDER_THRESHOLD, FRESH_MEMBER, AFTER_REDEMPTION = "under_threshold", "fresh_member", "after_redemption"
PEOPLE = ("staff", "key")  # subjects that act at a till


@dataclass(frozen=True)
class Fact:
    event_id: str
    kind: str  # sale, refund, redemption, adjustment, hold_released, registration
    subject: str | None  # staff:<id>, key:<id>, device:<id>, phone_block:<hash>
    at: datetime
    store: str | None = None
    terminal: str | None = None
    member_id: str | None = None
    reference: str | None = None
    amount: Decimal | None = None
    points: int = 0
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Finding:
    rule: str
    subject: str
    evidence: tuple[Fact, ...]
    measure: dict[str, str] = field(default_factory=dict)
    summary: str = ""


@dataclass(frozen=True)
class _Counts:
    kind: str
    flag: str | None
    subjects: tuple[str, ...]
    params: tuple[str, ...] = ()


# what each rule counts: the kind of fact, the flag it must carry, whose facts, its own parameters
COUNTS: Mapping[str, _Counts] = {
    "adjustment_velocity": _Counts("adjustment", None, PEOPLE, ("points",)),
    "refund_velocity": _Counts("refund", None, PEOPLE),
    "refund_after_redemption": _Counts("refund", AFTER_REDEMPTION, PEOPLE, ("gap_seconds",)),
    "holds_released": _Counts("hold_released", None, PEOPLE),
    "sales_under_threshold": _Counts("sale", UNDER_THRESHOLD, PEOPLE, ("thresholds", "band", "min_share_pct")),
    "fresh_member_sales": _Counts("sale", FRESH_MEMBER, PEOPLE, ("fresh_seconds",)),
    "shared_device": _Counts("registration", None, ("device",)),
    "shared_phone_block": _Counts("registration", None, ("phone_block",)),
}
PARAMS = ("points", "thresholds", "band", "min_share_pct", "fresh_seconds", "gap_seconds")
HOUR, DAY = 3600, 86_400
DEFAULTS: Mapping[str, dict[str, Any]] = {
    "adjustment_velocity": {"severity": "high", "window_seconds": HOUR, "threshold": 5, "points": 5000},
    "refund_velocity": {"severity": "medium", "window_seconds": HOUR, "threshold": 6},
    "refund_after_redemption": {"severity": "high", "window_seconds": DAY, "threshold": 3, "gap_seconds": DAY},
    "holds_released": {"severity": "low", "window_seconds": HOUR, "threshold": 8},
    "sales_under_threshold": {"severity": "medium", "window_seconds": DAY, "threshold": 10,
                              "thresholds": [Decimal(100), Decimal(200), Decimal(500)], "band": Decimal(5),
                              "min_share_pct": 25},
    "fresh_member_sales": {"severity": "high", "window_seconds": DAY, "threshold": 6, "fresh_seconds": 600},
    "shared_device": {"severity": "medium", "window_seconds": DAY, "threshold": 4},
    "shared_phone_block": {"severity": "medium", "window_seconds": DAY, "threshold": 4},
}


def configs(stored: Mapping[str, dict[str, Any]]) -> dict[str, RuleConfig]:
    """Every rule as in force: its defaults, with what an admin changed (``stored``) over them."""
    return {name: RuleConfig.model_validate({"rule": name, **DEFAULTS[name], **stored.get(name, {})})
            for name in RULE_NAMES}


def changed(current: RuleConfig, update: RuleUpdate) -> dict[str, Any]:
    """The settings an update changes; InvalidInput naming a parameter the rule does not read."""
    given = update.model_dump(exclude={"rule"}, exclude_none=True)
    for name in given:
        if name in PARAMS and name not in COUNTS[update.rule].params:
            raise InvalidInput(f"{update.rule} does not use {name}", name)
    merged = RuleConfig.model_validate({**current.model_dump(), **given})
    return {name: value for name, value in merged.model_dump(mode="json", exclude={"rule", "updated_at",
                                                                                    "updated_by"}).items()
            if name in given}


def subject_of(kind: str | None, ident: str | None) -> str | None:
    """A till subject (staff member or API key), or None when the actor is not one."""
    return f"{kind}:{ident}" if kind in PEOPLE and ident else None


def counts(rule: str, fact: Fact) -> bool:
    spec = COUNTS[rule]
    return (fact.kind == spec.kind and (spec.flag is None or spec.flag in fact.flags)
            and fact.subject is not None and fact.subject.partition(":")[0] in spec.subjects)


def rules_set_off(fact: Fact, active: Iterable[str]) -> list[str]:
    return [rule for rule in active if counts(rule, fact)]


def under_threshold(amount: Decimal | None, thresholds: Sequence[Decimal], band: Decimal) -> bool:
    """Just under a watched amount: in [threshold - band, threshold)."""
    return amount is not None and any(t - band <= amount < t for t in thresholds)


def fresh(registered_at: datetime | None, sold_at: datetime, fresh_seconds: int) -> bool:
    return registered_at is not None and timedelta(0) <= sold_at - registered_at <= timedelta(seconds=fresh_seconds)


def after_redemption(returned_points: int, redeemed_at: Iterable[datetime], refunded_at: datetime,
                     gap_seconds: int) -> bool:
    """The refund gave back points paid on the sale, or the member redeemed shortly before it."""
    gap = timedelta(seconds=gap_seconds)
    return returned_points > 0 or any(timedelta(0) <= refunded_at - at <= gap for at in redeemed_at)


def flag_sale(fact: Fact, registered_at: datetime | None, rules: Mapping[str, RuleConfig]) -> Fact:
    flags = set(fact.flags)
    watch = rules["sales_under_threshold"]
    if under_threshold(fact.amount, watch.thresholds or [], watch.band or Decimal(0)):
        flags.add(UNDER_THRESHOLD)
    if fresh(registered_at, fact.at, rules["fresh_member_sales"].fresh_seconds or 0):
        flags.add(FRESH_MEMBER)
    return _with(fact, flags)


def flag_refund(fact: Fact, returned_points: int, redeemed_at: Iterable[datetime],
                rules: Mapping[str, RuleConfig]) -> Fact:
    gap = rules["refund_after_redemption"].gap_seconds or 0
    return _with(fact, fact.flags | {AFTER_REDEMPTION}) if after_redemption(returned_points, redeemed_at, fact.at,
                                                                            gap) else fact


def _with(fact: Fact, flags: set[str] | frozenset[str]) -> Fact:
    return fact if frozenset(flags) == fact.flags else replace(fact, flags=frozenset(flags))


def window_start(config: RuleConfig, at: datetime) -> datetime:
    return at - timedelta(seconds=config.window_seconds)


def evaluate(config: RuleConfig, subject: str, facts: Iterable[Fact], at: datetime,
             sales_in_window: int = 0, since: datetime | None = None) -> Finding | None:
    """The finding when ``subject``'s facts of this rule in the window ending at ``at`` (and after
    ``since``: the last acknowledged alert's facts do not count again) cross the threshold.
    ``sales_in_window``: all of the subject's sales in that window (sales_under_threshold's share)."""
    if not config.enabled:
        return None
    start = max(window_start(config, at), since) if since is not None else window_start(config, at)
    window = sorted((f for f in facts if f.subject == subject and start < f.at <= at and counts(config.rule, f)),
                    key=lambda f: (f.at, f.event_id))
    if config.rule in ("shared_device", "shared_phone_block"):
        members = {f.member_id for f in window}
        if len(members) < config.threshold:
            return None
        return Finding(config.rule, subject, tuple(window), {"members": str(len(members))},
                       f"{len(members)} members registered from one {subject.partition(':')[0].replace('_', ' ')} "
                       f"in {_span(config)}")
    n = len(window)
    measure = {"count": str(n)}
    if config.rule == "adjustment_velocity":
        points = sum(abs(f.points) for f in window)
        measure["points"] = str(points)
        if n < config.threshold and (config.points is None or points < config.points):
            return None
        return Finding(config.rule, subject, tuple(window), measure,
                       f"{n} manual adjustments ({points} points) in {_span(config)}")
    if n < config.threshold:
        return None
    if config.rule == "sales_under_threshold":
        share = Decimal(100 * n) / Decimal(max(sales_in_window, n))
        measure.update(sales=str(max(sales_in_window, n)), share_pct=str(share.quantize(Decimal("0.1"))))
        if share < (config.min_share_pct or 0):
            return None
    return Finding(config.rule, subject, tuple(window), measure, f"{n} {_WHAT[config.rule]} in {_span(config)}")


_WHAT = {
    "refund_velocity": "refunds",
    "refund_after_redemption": "refunds after a redemption",
    "holds_released": "released point holds",
    "sales_under_threshold": "sales just under a watched amount",
    "fresh_member_sales": "sales on members registered minutes before",
}


def _span(config: RuleConfig) -> str:
    seconds = config.window_seconds
    return f"{seconds // HOUR} h" if seconds % HOUR == 0 else f"{seconds // 60} min"
