"""RFM, ABCD and lifecycle definitions (pure: no I/O, no clock).

Scores are quintiles (1-5, 5 best) over the chain's members with purchases in the window:
recency by the day of the last purchase, frequency by purchases, monetary by spend. The named
groups use R and FM = round((F + M) / 2), first match wins; every (R, FM) pair has a group.
ABCD: members sorted by spend, largest first; A = those bringing the first ``a`` share of the
revenue, then B up to ``b``, C up to ``c``, D the rest. Lifecycle from registration and last
purchase (all time): new, then active / recently_lapsed / lapsed by days since the last
purchase, else dormant. segments/rfm_repo turns these into SQL (window functions), never Python loops.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from contracts.errors import InvalidInput

# (group, R low, R high, FM low, FM high), first match wins
RFM_GROUPS: tuple[tuple[str, int, int, int, int], ...] = (
    ("champions", 4, 5, 4, 5),
    ("cant_lose", 1, 2, 5, 5),
    ("at_risk", 1, 2, 3, 4),
    ("loyal", 3, 5, 3, 5),
    ("new_customers", 5, 5, 1, 1),
    ("potential_loyalists", 4, 5, 2, 2),
    ("promising", 4, 4, 1, 1),
    ("about_to_sleep", 3, 3, 1, 2),
    ("hibernating", 2, 2, 1, 2),
    ("lost", 1, 1, 1, 2),
)
GROUP_NAMES = tuple(g[0] for g in RFM_GROUPS)


def fm_score(f: int, m: int) -> int:
    return (f + m + 1) // 2


def rfm_group(r: int, f: int, m: int) -> str:
    fm = fm_score(f, m)
    for name, r_lo, r_hi, fm_lo, fm_hi in RFM_GROUPS:
        if r_lo <= r <= r_hi and fm_lo <= fm <= fm_hi:
            return name
    raise AssertionError((r, f, m))


@dataclass(frozen=True)
class RfmParams:
    window_days: int = 365
    abcd_cuts: tuple[Decimal, Decimal, Decimal] = (Decimal("0.80"), Decimal("0.95"), Decimal("0.99"))
    new_days: int = 30
    active_days: int = 90
    recently_lapsed_days: int = 180
    lapsed_days: int = 365

    def to_json(self) -> dict[str, Any]:
        return {"window_days": self.window_days, "abcd_cuts": [str(c) for c in self.abcd_cuts],
                "new_days": self.new_days, "active_days": self.active_days,
                "recently_lapsed_days": self.recently_lapsed_days, "lapsed_days": self.lapsed_days}


def parse_params(raw: dict[str, Any]) -> RfmParams:
    """Validated parameters (defaults for those not given); InvalidInput naming the bad one."""
    known = set(RfmParams().to_json())
    for key in raw:
        if key not in known:
            raise InvalidInput(f"unknown parameter {key!r}", key)
    ints: dict[str, int] = {}
    for key in ("window_days", "new_days", "active_days", "recently_lapsed_days", "lapsed_days"):
        value = raw.get(key, getattr(RfmParams, key))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3660:
            raise InvalidInput("must be a whole number of days from 1 to 3660", key)
        ints[key] = value
    if not ints["active_days"] < ints["recently_lapsed_days"] < ints["lapsed_days"]:
        raise InvalidInput("must satisfy active_days < recently_lapsed_days < lapsed_days", "recently_lapsed_days")
    cuts_raw = raw.get("abcd_cuts", [str(c) for c in RfmParams.abcd_cuts])
    if not isinstance(cuts_raw, list) or len(cuts_raw) != 3:
        raise InvalidInput("must be three revenue shares [A, B, C], e.g. [\"0.80\", \"0.95\", \"0.99\"]", "abcd_cuts")
    cuts: list[Decimal] = []
    for value in cuts_raw:
        if isinstance(value, (bool, float)) or not isinstance(value, (str, int)):
            raise InvalidInput("shares are strings like \"0.80\" (never floats)", "abcd_cuts")
        try:
            cut = Decimal(value)
        except ArithmeticError:
            raise InvalidInput("not a number", "abcd_cuts") from None
        if not cut.is_finite():  # NaN and Infinity parse, but compare badly (NaN raises)
            raise InvalidInput("not a number", "abcd_cuts")
        cuts.append(cut)
    if not (Decimal(0) < cuts[0] < cuts[1] < cuts[2] <= Decimal(1)):
        raise InvalidInput("must be increasing shares in (0, 1]", "abcd_cuts")
    return RfmParams(abcd_cuts=(cuts[0], cuts[1], cuts[2]), **ints)
