"""Points' pure rules: earning, lot consumption, refunds, expiry dates, tiers. No I/O, no clock."""
from __future__ import annotations

import calendar
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from contracts.points import BonusRule, ExpiryRule, Program

DEFAULT_TIER = "normal"
OPENING_BALANCE = 0
_ROUNDING = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "ceil": ROUND_CEILING}
CENT = Decimal("0.01")


class RuleError(ValueError):
    """An input the rules cannot evaluate; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Line:
    sku: str | None
    category: str | None
    amount: Decimal
    discount: Decimal = Decimal(0)
    path: tuple[str, ...] = ()  # the category's codes from the root down (the catalog's tree)
    excluded: bool = False  # the catalog says this SKU earns nothing

    def categories(self) -> tuple[str, ...]:
        """Its category and every one above it: a rule on a category covers its subtree."""
        return self.path or ((self.category,) if self.category is not None else ())

    def in_any(self, categories: Collection[str]) -> bool:
        return any(category in categories for category in self.categories())


@dataclass(frozen=True)
class Bonus:
    rule_id: str
    rule: BonusRule
    audience: str | None = None  # only members granted this audience earn it
    source: str = "api"  # whose rule (a campaign's budget covers all its rules)

    def open_to(self, member_id: str, granted: set[tuple[str, str]]) -> bool:
        return self.audience is None or (self.audience, member_id) in granted


CAP_LINES = ("cap_sale", "cap_day")


def paid_bonus(earning: "Earning") -> dict[str, int]:
    """The points each ``bonus:`` line really adds to the sale: a sale or day cap takes bonus
    points first (the last bonus line first, then the one before), and a ``budget:`` line
    takes from its own bonus line. Never negative."""
    cut = -sum(points for label, points in earning.breakdown if label in CAP_LINES)
    paid: dict[str, int] = {}
    for label, points in reversed(earning.breakdown):
        if label.startswith("bonus:"):
            taken = min(max(points, 0), cut)
            cut -= taken
            paid[label] = max(points, 0) - taken
    for label, points in earning.breakdown:
        if label.startswith("budget:"):
            bonus = "bonus:" + label.removeprefix("budget:")
            paid[bonus] = max(0, paid.get(bonus, 0) + points)
    return paid


def within_budgets(earning: "Earning", allowed: dict[str, int]) -> "Earning":
    """The earning with each bonus line cut to what its budget allowed (``allowed`` maps a
    breakdown label to the points its budget granted, of what the line pays after the caps:
    ``paid_bonus``), each cut shown as a ``budget:`` line."""
    paid = paid_bonus(earning)
    cuts = [(label, allowed[label] - paid[label]) for label in paid
            if label in allowed and allowed[label] < paid[label]]
    if not cuts:
        return earning
    breakdown = [*earning.breakdown, *((f"budget:{label.removeprefix('bonus:')}", cut) for label, cut in cuts)]
    return Earning(earning.points + sum(cut for _, cut in cuts), earning.net_amount, breakdown)


@dataclass
class Earning:
    points: int
    net_amount: Decimal
    breakdown: list[tuple[str, int]] = field(default_factory=list)


def net_lines(lines: Sequence[Line], sale_discount: Decimal) -> list[Decimal]:
    """Each line's amount after its own discount and its share of the sale-level discount.
    Shares follow what is left of each line, to the cent, and add up to the sale discount
    exactly (largest remainders take the odd cents); no line goes below zero."""
    left = [max(Decimal(0), line.amount - line.discount) for line in lines]
    total = sum(left, Decimal(0))
    discount = min(sale_discount, total)
    if total == 0 or discount == 0:
        return left
    exact = [discount * x / total for x in left]
    shares = [e.quantize(CENT, ROUND_FLOOR) for e in exact]
    odd = int((discount - sum(shares, Decimal(0))) / CENT)
    by_remainder = sorted(range(len(lines)), key=lambda i: (shares[i] - exact[i], i))
    for i in by_remainder:
        if odd == 0:
            break
        if shares[i] + CENT <= left[i]:
            shares[i] += CENT
            odd -= 1
    return [x - share for x, share in zip(left, shares, strict=True)]


def _round(value: Decimal, mode: str) -> int:
    return int(value.to_integral_value(_ROUNDING[mode]))


def earn(program: Program, *, lines: Sequence[Line], sale_discount: Decimal, currency: str, tier: str,
         store: str, sold_at: datetime, bonuses: Iterable[Bonus] = (), earned_today: int = 0) -> Earning:
    """Points for one sale, with a breakdown whose lines add up to the total."""
    rate = program.rates.get(currency)
    if rate is None:
        raise RuleError(f"currency {currency} is not accepted (accepted: {', '.join(sorted(program.rates))})",
                        "currency")
    nets = net_lines(lines, sale_discount)
    net_total = sum(nets, Decimal(0))
    paid = nets if program.net_of_discounts else [line.amount for line in lines]
    if net_total < program.min_spend:
        return Earning(0, net_total, [("min_spend", 0)])
    base = Decimal(0)
    extras: dict[str, Decimal] = {}
    excluded = False
    for line, amount in zip(lines, paid, strict=True):
        if line.excluded or _excluded(program, line):
            excluded = excluded or not line.excluded
            continue
        points = amount * rate
        base += points
        # the nearest category up the tree with a multiplier
        multiplied = next((c for c in reversed(line.categories()) if c in program.category_multipliers), None)
        if line.sku is not None and line.sku in program.sku_multipliers:
            label, factor = f"sku:{line.sku}", program.sku_multipliers[line.sku]
        elif multiplied is not None:
            label, factor = f"category:{multiplied}", program.category_multipliers[multiplied]
        else:
            continue
        extras[label] = extras.get(label, Decimal(0)) + points * (factor - 1)
    exact: list[tuple[str, Decimal]] = [("base", base), *sorted(extras.items())]
    tier_factor = next((t.multiplier for t in program.tiers if t.name == tier), Decimal(1))
    if tier_factor != 1:
        before_tier = base + sum(extras.values(), Decimal(0))
        exact.append((f"tier:{tier}", before_tier * (tier_factor - 1)))
    for bonus in bonuses:
        rule = bonus.rule
        if not (rule.starts_at <= sold_at < rule.ends_at) or net_total < rule.min_spend:
            continue
        if (rule.stores and store not in rule.stores) or (rule.tiers and tier not in rule.tiers):
            continue
        if rule.points_per_sale is not None:
            exact.append((f"bonus:{bonus.rule_id}", Decimal(rule.points_per_sale)))
            continue
        assert rule.multiplier is not None
        eligible = sum((amount * rate for line, amount in zip(lines, paid, strict=True)
                        if not line.excluded and not _excluded(program, line)
                        and (not rule.categories or line.in_any(rule.categories))), Decimal(0))
        exact.append((f"bonus:{bonus.rule_id}", eligible * (rule.multiplier - 1)))
    # rounded as running totals, so the lines add up to the rounded total whatever their signs
    breakdown: list[tuple[str, int]] = []
    running, shown = Decimal(0), 0
    for label, value in exact:
        running += value
        rounded = max(0, _round(running, program.rounding))
        breakdown.append((label, rounded - shown))
        shown = rounded
    if excluded:
        breakdown.append(("excluded", 0))
    # each SKU the catalog excludes, shown earning nothing
    breakdown.extend((f"excluded:{sku}", 0) for sku in dict.fromkeys(line.sku for line in lines if line.excluded))
    total = sum(points for _, points in breakdown)
    if program.cap_per_sale is not None and total > program.cap_per_sale:
        breakdown.append(("cap_sale", program.cap_per_sale - total))
        total = program.cap_per_sale
    if program.cap_per_day is not None:
        room = max(0, program.cap_per_day - earned_today)
        if total > room:
            breakdown.append(("cap_day", room - total))
            total = room
    return Earning(total, net_total, breakdown)


def _excluded(program: Program, line: Line) -> bool:
    """Excluded by the program: its SKU, or its category or one above it."""
    return line.sku in program.excluded_skus or line.in_any(program.excluded_categories)


def cumulative_share(total: int, whole: Decimal, before: Decimal, now: Decimal) -> int:
    """The part of ``total`` that the step from ``before`` to ``now`` (of ``whole``) stands for,
    rounded so that the steps of a full refund add up to ``total`` exactly."""
    if whole <= 0:
        return 0

    def upto(x: Decimal) -> int:
        return total if x >= whole else int((Decimal(total) * x / whole).to_integral_value(ROUND_HALF_UP))

    return upto(now) - upto(before)


@dataclass(frozen=True)
class Lot:
    lot_id: int
    remaining: int
    available_at: datetime
    expires_at: datetime | None
    store: str | None = None
    reference: str | None = None


_NEVER = datetime.max.replace(tzinfo=UTC)


def by_expiry(lots: Iterable[Lot], first_reference: str | None = None) -> list[Lot]:
    """Soonest expiry first, lots that never expire last; the lot with ``first_reference``
    (a refunded sale's own lot) before all others."""
    return sorted(lots, key=lambda lot: (first_reference is None or lot.reference != first_reference,
                                         lot.expires_at or _NEVER, lot.lot_id))


def per_store(parts: Iterable[tuple[str | None, int]]) -> dict[str | None, int]:
    """Points summed by store (one ledger row per issuing store)."""
    totals: dict[str | None, int] = {}
    for store, points in parts:
        totals[store] = totals.get(store, 0) + points
    return totals


def spendable(lots: Iterable[Lot], now: datetime) -> list[Lot]:
    """Lots that may be spent now, soonest expiry first (lots that never expire last)."""
    return by_expiry(lot for lot in lots if lot.remaining > 0 and lot.available_at <= now
                     and (lot.expires_at is None or lot.expires_at > now))


def consume(lots: Sequence[Lot], points: int) -> list[tuple[Lot, int]]:
    """Take ``points`` from ``lots`` in the order given; raises if they do not cover it."""
    taken: list[tuple[Lot, int]] = []
    left = points
    for lot in lots:
        if left == 0:
            break
        take = min(left, lot.remaining)
        if take:
            taken.append((lot, take))
            left -= take
    if left:
        raise RuleError(f"insufficient points: {points - left} available, {points} needed", "points")
    return taken


def credit_into_lot(balance: int, held: int, points: int) -> int:
    """How many of ``points`` credited to a balance go into a new lot: all of them, unless the
    balance is below what is held (a refund took spent points), which they first make good."""
    return max(0, balance + points - held) - max(0, balance - held)


def refund_split(points: int, balance: int, held: int, debt_policy: bool, negative_limit: int) -> tuple[int, int]:
    """(points taken off the balance, points recorded as debt) when a refund takes ``points``.
    Under the debt policy the balance keeps what is held; under the negative policy the balance
    (less holds) may fall to ``-negative_limit`` and only what goes beyond becomes debt."""
    room = (balance - held) - (0 if debt_policy else -negative_limit)
    from_balance = max(0, min(points, room))
    return from_balance, points - from_balance


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry(earned_at: datetime, zone: str, rule: ExpiryRule) -> datetime | None:
    """When points earned at ``earned_at`` expire: the end of a local day in the store's zone."""
    if rule.mode == "never":
        return None
    try:
        return _expiry(earned_at, zone, rule)
    except (OverflowError, ValueError):
        raise RuleError("too far in the future to expire", "sold_at") from None


def _expiry(earned_at: datetime, zone: str, rule: ExpiryRule) -> datetime:
    local = earned_at.astimezone(ZoneInfo(zone)).date()
    if rule.mode == "months_after":
        last = _add_months(local, rule.count)
    elif rule.mode == "end_of_month":
        end = _add_months(local.replace(day=1), rule.count)
        last = end.replace(day=calendar.monthrange(end.year, end.month)[1])
    else:
        last = date(local.year + rule.count, 12, 31)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def local_day_bounds(at: datetime, zone: str) -> tuple[datetime, datetime]:
    local = at.astimezone(ZoneInfo(zone)).date()
    start = datetime.combine(local, time(0), tzinfo=ZoneInfo(zone))
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def tier_for(program: Program, qualifying: Decimal) -> str:
    reached = [t.name for t in program.tiers if qualifying >= t.threshold]
    return reached[-1] if reached else program.tiers[0].name


def tier_rank(program: Program, tier: str) -> int:
    names = [t.name for t in program.tiers]
    return names.index(tier) if tier in names else 0


def next_tier(program: Program, tier: str, qualifying: Decimal) -> tuple[str | None, Decimal | None]:
    rank = tier_rank(program, tier)
    if rank + 1 >= len(program.tiers):
        return None, None
    target = program.tiers[rank + 1]
    return target.name, max(Decimal(0), target.threshold - qualifying)


def upgrade(program: Program, current: str, qualifying: Decimal) -> str | None:
    """The tier to move up to at once, or None."""
    earned = tier_for(program, qualifying)
    return earned if tier_rank(program, earned) > tier_rank(program, current) else None


def downgrade(program: Program, current: str, qualifying: Decimal, tier_since: datetime | None,
              now: datetime) -> str | None:
    """At a periodic evaluation: one tier down when the member no longer qualifies and the
    grace period since reaching the current tier has passed; else None."""
    rank = tier_rank(program, current)
    if rank == 0 or tier_rank(program, tier_for(program, qualifying)) >= rank:
        return None
    if tier_since is not None and now < tier_since + timedelta(days=program.tier_grace_days):
        return None
    return program.tiers[rank - 1].name


def tier_after_refund(program: Program, current: str, qualifying: Decimal, tier_since: datetime | None,
                      sold_at: datetime) -> str | None:
    """A refund undoes the upgrade its sale made: when the current tier was reached at or after
    the refunded sale and the qualifying spend left no longer reaches it, the tier that spend
    reaches, at once; else None (a tier reached before the sale is the periodic evaluation's,
    with its grace period)."""
    if tier_since is None or tier_since < sold_at:
        return None
    earned = tier_for(program, qualifying)
    return earned if tier_rank(program, earned) < tier_rank(program, current) else None


def split(points: int, weights: dict[str | None, int]) -> dict[str | None, int]:
    """``points`` divided over the keys in proportion to their weights, adding up exactly
    (largest remainders take the odd points)."""
    total = sum(weights.values())
    if total <= 0 or points <= 0:
        return {}
    shares = {key: points * w // total for key, w in weights.items()}
    odd = points - sum(shares.values())
    for key in sorted(weights, key=lambda k: -(points * weights[k] % total))[:odd]:
        shares[key] += 1
    return {key: share for key, share in shares.items() if share}


def budget_cap(points: int | None, money: Decimal | None, point_value: Decimal) -> int | None:
    """A campaign's bonus cap in points: its points cap and its money cap at the point value,
    whichever is less (None: no cap)."""
    caps = [] if points is None else [points]
    if money is not None and point_value > 0:
        caps.append(int(money // point_value))
    return min(caps) if caps else None


def refund_shares(sale_points: int, net_amount: Decimal, refunded_before: Decimal, amount: Decimal,
                  points_reversed: int, redeemed: int, redeemed_returned: int) -> tuple[int, int]:
    """(points to reverse, redeemed points to give back) for refunding ``amount`` of a sale:
    shares of the whole so far, less what earlier refunds took, so any split of refunds adds
    up exactly, even when points were paid on the sale after an earlier partial refund."""
    after = refunded_before + amount
    reverse = cumulative_share(sale_points, net_amount, Decimal(0), after) - points_reversed
    give_back = max(0, cumulative_share(redeemed, net_amount, Decimal(0), after) - redeemed_returned)
    return reverse, give_back
