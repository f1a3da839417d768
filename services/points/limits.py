"""Sanity limits on the amounts one request may carry: a sale, a line, a refund (money, per
currency) and a hold or an adjustment (points). A till that sends 999,999,999,999.99 has a
typo or a fault; it gets a 422 naming the field, not a platinum member.

Configured by POINTS_SALE_LIMITS and POINTS_LINE_LIMITS (``CNY=100000,USD=15000,*=100000``:
``*`` for currencies not listed) and POINTS_HOLD_LIMIT / POINTS_ADJUST_LIMIT (points). Every
limit stays below what the money columns hold (numeric(14, 2)), so whatever is accepted is
stored and summed by every consumer. Pure: no I/O but reading the given environment.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from contracts.points import Refund, Sale

COLUMN_MAX = Decimal("999999999999.99")  # numeric(14, 2), the contracts' Money
DEFAULT_SALE = "CNY=100000,HKD=110000,USD=15000,EUR=15000,JPY=2000000,*=100000"
DEFAULT_LINE = "CNY=50000,HKD=55000,USD=7500,EUR=7500,JPY=1000000,*=50000"
DEFAULT_HOLD_POINTS = 1_000_000
DEFAULT_ADJUST_POINTS = 100_000


class LimitsError(ValueError):
    """A limit setting that cannot be used (the service refuses to start with it)."""


def _per_currency(setting: str, name: str) -> dict[str, Decimal]:
    limits: dict[str, Decimal] = {}
    for part in filter(None, (p.strip() for p in setting.split(","))):
        currency, _, value = part.partition("=")
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise LimitsError(f"{name}: {part!r} is not CURRENCY=AMOUNT") from None
        if not (currency.strip() == "*" or (len(currency.strip()) == 3 and currency.strip().isupper())):
            raise LimitsError(f"{name}: {currency!r} is not a currency code or *")
        if not Decimal(0) < amount <= COLUMN_MAX:
            raise LimitsError(f"{name}: {part!r} must be above 0 and at most {COLUMN_MAX}")
        limits[currency.strip()] = amount
    if "*" not in limits:
        raise LimitsError(f"{name}: give a limit for other currencies (*=AMOUNT)")
    return limits


@dataclass(frozen=True)
class Limits:
    sale: Mapping[str, Decimal]
    line: Mapping[str, Decimal]
    hold_points: int = DEFAULT_HOLD_POINTS
    adjust_points: int = DEFAULT_ADJUST_POINTS

    def sale_limit(self, currency: str) -> Decimal:
        return self.sale.get(currency, self.sale["*"])

    def line_limit(self, currency: str) -> Decimal:
        return self.line.get(currency, self.line["*"])

    def sale_problem(self, sale: Sale) -> tuple[str, str] | None:
        """(field, message) of the first amount above its limit, or None."""
        most, line_most = self.sale_limit(sale.currency), self.line_limit(sale.currency)
        if sale.amount > most:
            return "amount", f"above the limit of {most} {sale.currency} for one sale"
        for i, line in enumerate(sale.items):
            for field, value in (("amount", line.amount), ("discount", line.discount)):
                if value > line_most:
                    return f"items.{i}.{field}", f"above the limit of {line_most} {sale.currency} for one line"
        for i, discount in enumerate(sale.discounts):
            if discount.amount > most:
                return f"discounts.{i}.amount", f"above the limit of {most} {sale.currency} for one sale"
        return None

    def refund_problem(self, refund: Refund) -> tuple[str, str] | None:
        """A refund is at most its sale (checked against the sale); here, at most any sale."""
        most = max(self.sale.values())
        if refund.amount > most:
            return "amount", f"above the limit of {most} for one sale"
        return None

    def hold_problem(self, points: int) -> tuple[str, str] | None:
        if points > self.hold_points:
            return "points", f"above the limit of {self.hold_points} points for one hold"
        return None

    def adjust_problem(self, points: int) -> tuple[str, str] | None:
        if abs(points) > self.adjust_points:
            return "points", f"above the limit of {self.adjust_points} points for one adjustment"
        return None


@lru_cache(maxsize=8)
def _parse(sale: str, line: str, hold: str, adjust: str) -> Limits:
    try:
        hold_points, adjust_points = int(hold), int(adjust)
    except ValueError:
        raise LimitsError("POINTS_HOLD_LIMIT and POINTS_ADJUST_LIMIT are whole numbers of points") from None
    if hold_points <= 0 or adjust_points <= 0:
        raise LimitsError("POINTS_HOLD_LIMIT and POINTS_ADJUST_LIMIT must be above 0")
    return Limits(sale=_per_currency(sale, "POINTS_SALE_LIMITS"), line=_per_currency(line, "POINTS_LINE_LIMITS"),
                  hold_points=hold_points, adjust_points=adjust_points)


def from_env(env: Mapping[str, str] | None = None) -> Limits:
    """The limits in force (parsed once per distinct setting: cheap on the sale path)."""
    env = os.environ if env is None else env
    return _parse(env.get("POINTS_SALE_LIMITS", DEFAULT_SALE), env.get("POINTS_LINE_LIMITS", DEFAULT_LINE),
                  env.get("POINTS_HOLD_LIMIT", str(DEFAULT_HOLD_POINTS)),
                  env.get("POINTS_ADJUST_LIMIT", str(DEFAULT_ADJUST_POINTS)))
