"""Lifecycle classes (pure: no I/O, no clock; docs/lifecycle.md).

A member's class follows from the time since their last purchase (since registration when they
have none) and how many purchases they made:

    lost      at least lost_days
    dormant   at least dormant_days
    at_risk   at least at_risk_days
    active    more recent, with at least active_min_purchases purchases
    new       more recent, fewer purchases (just registered, or one purchase so far)

lifecycle_repo builds its SQL from ``bands`` so the database and this module agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from contracts.errors import InvalidInput

CLASSES = ("new", "active", "at_risk", "dormant", "lost")


@dataclass(frozen=True)
class Thresholds:
    at_risk_days: int = 60
    dormant_days: int = 180
    lost_days: int = 365
    active_min_purchases: int = 2

    def to_json(self) -> dict[str, int]:
        return {"at_risk_days": self.at_risk_days, "dormant_days": self.dormant_days, "lost_days": self.lost_days,
                "active_min_purchases": self.active_min_purchases}


def check(values: dict[str, Any]) -> Thresholds:
    """Thresholds from validated fields (ranges checked by the contract); InvalidInput naming the
    field when the days do not grow from at risk to dormant to lost."""
    found = Thresholds(**values)
    if found.dormant_days <= found.at_risk_days:
        raise InvalidInput("must be more than at_risk_days", "dormant_days")
    if found.lost_days <= found.dormant_days:
        raise InvalidInput("must be more than dormant_days", "lost_days")
    return found


def bands(t: Thresholds) -> tuple[tuple[str, int], ...]:
    """(class, from this many days), the longest first: the first band reached is the class."""
    return (("lost", t.lost_days), ("dormant", t.dormant_days), ("at_risk", t.at_risk_days))


def classify(t: Thresholds, at: datetime, registered_at: datetime, last_purchase_at: datetime | None,
             purchases: int) -> str:
    """The class at ``at`` of a member registered at ``registered_at``."""
    idle = at - (last_purchase_at or registered_at)
    for name, days in bands(t):
        if idle >= timedelta(days=days):
            return name
    return "active" if purchases >= t.active_min_purchases else "new"
