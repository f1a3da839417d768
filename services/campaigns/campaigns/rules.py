"""Campaign rules (pure: no I/O, no clock): states and their transitions, the control group,
type-specific validation, member-day occurrences in store time zones, and the result figures."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from contracts.errors import Conflict, InvalidInput

STATES = ("draft", "scheduled", "running", "paused", "finished")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("scheduled",),
    "scheduled": ("draft", "running", "finished"),
    "running": ("paused", "finished"),
    "paused": ("running", "finished"),
    "finished": (),
}
POINTS_TYPES = ("points_multiplier", "points_bonus", "member_day")
COUPON_TYPES = ("coupon_drop", "birthday", "win_back", "referral")
ON_EVENT_TYPES = ("birthday", "referral")  # coupons on a member's birthday / per referral, not at launch
TRIGGERABLE = ("coupon_drop", "win_back")  # may give their coupon when a member turns into a lifecycle class
LAPSED = ("at_risk", "dormant", "lost")
BUCKETS = 10_000


def check_transition(current: str, wanted: str) -> None:
    if wanted not in STATES:
        raise InvalidInput(f"one of {', '.join(STATES)}", "status")
    if wanted not in TRANSITIONS[current]:
        allowed = ", ".join(TRANSITIONS[current]) or "none"
        raise Conflict(f"a {current} campaign cannot become {wanted} (allowed: {allowed})", "status")


def control_bucket(campaign_id: str, member_id: str) -> int:
    """0..9999, fixed per campaign and member (the same formula runs in SQL at launch)."""
    digest = hashlib.md5(f"{campaign_id}:{member_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % BUCKETS


def control_threshold(share: Decimal) -> int:
    """Members whose bucket is below this are the control group."""
    return int((share * BUCKETS).to_integral_value(ROUND_HALF_EVEN))


def validate(spec: Mapping[str, Any]) -> None:
    """Type-specific rules a schema cannot say; InvalidInput naming the field."""
    kind = spec["type"]
    if spec["ends_at"] <= spec["starts_at"]:
        raise InvalidInput("must be after starts_at", "ends_at")
    if kind == "points_multiplier" and spec.get("multiplier") is None:
        raise InvalidInput("a points multiplier campaign needs a multiplier", "multiplier")
    if kind == "points_bonus" and spec.get("points_per_sale") is None:
        raise InvalidInput("a points bonus campaign needs points_per_sale", "points_per_sale")
    if kind == "member_day":
        if spec.get("recurrence") is None:
            raise InvalidInput("a member day needs a recurrence (weekdays)", "recurrence")
        if (spec.get("multiplier") is None) == (spec.get("points_per_sale") is None):
            raise InvalidInput("a member day needs exactly one of multiplier and points_per_sale", "multiplier")
    recurrence = spec.get("recurrence")
    if recurrence is not None:
        days = recurrence["weekdays"]
        if any(d < 0 or d > 6 for d in days) or len(set(days)) != len(days):
            raise InvalidInput("distinct weekdays 0 (Monday) to 6 (Sunday)", "recurrence.weekdays")
    if kind in COUPON_TYPES and not spec.get("coupon_template_id"):
        raise InvalidInput(f"a {kind} campaign needs a coupon template", "coupon_template_id")
    if kind not in COUPON_TYPES and spec.get("coupon_template_id"):
        raise InvalidInput(f"a {kind} campaign issues no coupons", "coupon_template_id")
    if kind not in POINTS_TYPES and (spec.get("multiplier") is not None or spec.get("points_per_sale") is not None):
        raise InvalidInput(f"a {kind} campaign grants no bonus points", "multiplier")
    trigger = spec.get("trigger_lifecycle")
    if trigger is not None and kind not in TRIGGERABLE:
        raise InvalidInput(f"only {', '.join(TRIGGERABLE)} campaigns trigger on a lifecycle class", "trigger_lifecycle")
    if trigger is not None and kind == "win_back" and trigger not in LAPSED:
        raise InvalidInput(f"a win-back triggers on one of {', '.join(LAPSED)}", "trigger_lifecycle")
    if (spec.get("channel") is None) != (spec.get("template") is None):
        raise InvalidInput("give both channel and template for an announcement, or neither", "template")


def on_event(kind: str, spec: Mapping[str, Any]) -> bool:
    """Coupons go out on members' events (birthday, referral, a lifecycle class), not at launch."""
    return kind in ON_EVENT_TYPES or spec.get("trigger_lifecycle") is not None


def check_budget(new: Mapping[str, Any], committed: Mapping[str, Any]) -> None:
    """A cap may not go below what the campaign has committed already."""
    for key in ("coupons", "points", "money"):
        cap = new.get(key)
        if cap is not None and Decimal(cap) < Decimal(committed.get(key) or 0):
            raise InvalidInput(f"below what is committed already ({committed[key]})", f"budget.{key}")


@dataclass(frozen=True)
class Occurrence:
    key: str  # campaign id + local day + zone: one bonus rule each
    starts_at: datetime
    ends_at: datetime
    stores: tuple[str, ...]


def zone_groups(stores: Sequence[str], named: Mapping[str, str], default: str) -> dict[str, tuple[str, ...]]:
    """The campaign's stores by time zone; no stores (the whole chain) -> the chain's default zone."""
    if not stores:
        return {default: ()}
    groups: dict[str, list[str]] = {}
    for code in stores:
        groups.setdefault(named.get(code, default), []).append(code)
    return {zone: tuple(sorted(codes)) for zone, codes in groups.items()}


def member_day_occurrences(campaign_id: str, weekdays: Sequence[int], at: datetime,
                           groups: Mapping[str, tuple[str, ...]]) -> list[Occurrence]:
    """The member days under way or starting within a day of ``at``, each from local midnight to
    local midnight in its stores' zone."""
    out = []
    for zone, stores in sorted(groups.items()):
        tz = ZoneInfo(zone)
        local = at.astimezone(tz).date()
        for day in (local, local + timedelta(days=1)):
            if day.weekday() not in weekdays:
                continue
            start = datetime.combine(day, time(0), tz)
            end = datetime.combine(day + timedelta(days=1), time(0), tz)
            if start - timedelta(days=1) <= at < end:
                out.append(Occurrence(f"{campaign_id}:{day.isoformat()}:{zone}", start, end, stores))
    return out


def ratio(part: int, whole: int) -> Decimal | None:
    """part / whole to 4 places; None when there is no whole (nothing to divide by)."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))


def figures(reached: int, control: int, converted: int, control_converted: int) -> dict[str, Decimal | None]:
    """Conversion of treated and control members, and the lift (absolute and relative): null
    where a group is empty (no control group: nothing to compare with, so no lift)."""
    conversion, control_conversion = ratio(converted, reached), ratio(control_converted, control)
    if conversion is None or control_conversion is None:
        return {"conversion": conversion, "control_conversion": control_conversion, "lift": None,
                "relative_lift": None}
    lift = conversion - control_conversion
    relative = None if control_conversion == 0 else (lift / control_conversion).quantize(Decimal("0.0001"))
    return {"conversion": conversion, "control_conversion": control_conversion, "lift": lift,
            "relative_lift": relative}
