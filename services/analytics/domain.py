"""Pure rules of the analytics read model: which local day and hour an event falls in, how events fold
into additive deltas per grain, when a member becomes a buyer or a repeat buyer of a month, how a day
range splits into whole months and loose days, and the rates answered. No I/O, no clock."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from services.analytics.tables import DAY_AMOUNTS, HOUR_AMOUNTS, HOUR_COUNTS

CHAIN = "*"  # the chain's rows in each store grain: a chain answer reads these, not every store's
HOUR_MEASURES = frozenset(HOUR_COUNTS + HOUR_AMOUNTS)
AMOUNTS = frozenset(DAY_AMOUNTS)
CENT = Decimal("0.01")
RATE = Decimal("0.0001")
Number = int | Decimal


def local(at: datetime, zone: ZoneInfo) -> tuple[date, int]:
    """The store's local day and hour of an instant."""
    moment = at.astimezone(zone)
    return moment.date(), moment.hour


def month_of(day: date) -> date:
    return day.replace(day=1)


def is_weekend(day: date) -> bool:
    return day.isoweekday() >= 6


@dataclass(frozen=True)
class Line:
    sku: str
    category: str | None
    qty: Decimal
    amount: Decimal


@dataclass
class Deltas:
    """What a batch of events adds to each aggregate, keyed by the table's primary key."""

    day: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))
    hour: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))
    month_hour: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))
    lines: dict[str, dict[tuple[Any, ...], list[Number]]] = field(default_factory=lambda: defaultdict(dict))
    store_month: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))
    chain_month: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))
    cohorts: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))
    cohort_activity: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))
    coupons: dict[tuple[Any, ...], dict[str, Number]] = field(default_factory=lambda: defaultdict(dict))

    def add(self, store: str, day: date, hour: int, **measures: Number) -> None:
        """Measures of one event at a store's local day and hour, and in the chain's rows; the hourly
        ones go to the hour grains too."""
        hourly = {k: v for k, v in measures.items() if k in HOUR_MEASURES}
        for at in (store, CHAIN):
            _bump(self.day[(at, day)], measures)
            if hourly:
                _bump(self.hour[(at, day, hour)], hourly)
                _bump(self.month_hour[(at, month_of(day), is_weekend(day), hour)], hourly)

    def add_line(self, store: str, day: date, line: Line) -> None:
        month, weekend = month_of(day), is_weekend(day)
        for at in (store, CHAIN):
            keys = {"store_day_sku": (at, day, line.sku), "store_month_sku": (at, month, weekend, line.sku)}
            if line.category is not None:
                keys["store_day_category"] = (at, day, line.category)
                keys["store_month_category"] = (at, month, weekend, line.category)
            for table, key in keys.items():
                current = self.lines[table].setdefault(key, [0, Decimal(0), Decimal(0)])
                current[0] = int(current[0]) + 1
                current[1] += line.qty
                current[2] += line.amount

    def coupon(self, template_id: str, store: str, day: date, **measures: Number) -> None:
        for at in {store, CHAIN}:
            _bump(self.coupons[(template_id, at, day)], measures)

    def count(self, grain: str, key: tuple[Any, ...], **measures: Number) -> None:
        _bump(getattr(self, grain)[key], measures)


def _bump(target: dict[str, Number], measures: dict[str, Number]) -> None:
    for name, value in measures.items():
        target[name] = target.get(name, 0) + value


def full_rows(deltas: dict[tuple[Any, ...], dict[str, Number]], keys: tuple[str, ...],
              counts: Iterable[str], amounts: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows for one multi-row upsert: every measure present (zero where the batch has none), in key
    order so two batches touching the same rows lock them in the same order."""
    counts, amounts = tuple(counts), tuple(amounts)
    rows = []
    for key in sorted(deltas):
        measures = deltas[key]
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row.update({c: int(measures.get(c, 0)) for c in counts})
        row.update({a: Decimal(measures.get(a, 0)) for a in amounts})
        rows.append(row)
    return rows


def buyer_deltas(total: int, added: int) -> tuple[int, int]:
    """(buyers, repeat buyers) a period gains when a member's purchases in it go from total-added to
    total: a buyer at the first, a repeat buyer at the second."""
    before = total - added
    return int(before == 0 and total > 0), int(before < 2 <= total)


def first_sale_index(prior_purchases: int, times: list[datetime]) -> int | None:
    """Which of a member's sales in this batch is their first purchase ever (the earliest, if they
    had none before); None when they had bought before."""
    if prior_purchases > 0 or not times:
        return None
    return min(range(len(times)), key=lambda i: times[i])


def erp_moves(old: tuple[str, date, int, int] | None, new: tuple[str, date, int, int]
              ) -> list[tuple[str, date, int, int, int]]:
    """(store, day, hour, sales, cents) changes when an ERP sale is stored again: the old version's
    figures taken out where they were counted, the new one's added where it now falls."""
    moves = []
    if old is not None:
        moves.append((old[0], old[1], old[2], -1, -old[3]))
    moves.append((new[0], new[1], new[2], 1, new[3]))
    return moves


def split_months(first: date, last: date) -> tuple[list[date], list[tuple[date, date]]]:
    """The whole months inside [first, last] (their first days) and the loose day ranges around them:
    month grains answer the whole months, day grains only the edges."""
    months: list[date] = []
    loose: list[tuple[date, date]] = []
    start = first if first.day == 1 else _next_month(first)
    cursor = start
    while _next_month(cursor) - timedelta(days=1) <= last:
        months.append(cursor)
        cursor = _next_month(cursor)
    if not months:
        return [], [(first, last)]
    if first < months[0]:
        loose.append((first, months[0] - timedelta(days=1)))
    if cursor <= last:
        loose.append((cursor, last))
    return months, loose


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def months_between(first: date, last: date) -> list[date]:
    out, cursor = [], month_of(first)
    while cursor <= last:
        out.append(cursor)
        cursor = _next_month(cursor)
    return out


def month_index(cohort: date, month: date) -> int:
    return (month.year - cohort.year) * 12 + month.month - cohort.month


def ratio(part: Number, whole: Number, places: Decimal = RATE) -> str | None:
    """part / whole as a decimal string, None when whole is zero."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(places))


def money(value: Number) -> str:
    return str(Decimal(value).quantize(CENT))


def sales_row(key: str, sums: dict[str, Number], erp_known: bool) -> dict[str, Any]:
    """One answer row from summed measures; the ERP's figures only where an ERP reports."""
    member_sales, member_amount = int(sums.get("member_sales", 0)), Decimal(sums.get("member_amount", 0))
    erp_amount = Decimal(sums.get("erp_amount", 0))
    return {
        "key": key, "member_sales": member_sales, "member_amount": money(member_amount),
        "average_basket": ratio(member_amount, member_sales, CENT),
        "new_buyer_sales": int(sums.get("new_buyer_sales", 0)), "returning_sales": int(sums.get("returning_sales", 0)),
        "registrations": int(sums.get("registrations", 0)),
        "all_sales": int(sums.get("erp_sales", 0)) if erp_known else None,
        "all_amount": money(erp_amount) if erp_known else None,
        "member_share": ratio(member_amount, erp_amount) if erp_known else None,
        "refunds": int(sums.get("refunds", 0)), "refund_amount": money(sums.get("refund_amount", 0)),
        "points_issued": int(sums.get("points_issued", 0)), "points_redeemed": int(sums.get("points_redeemed", 0)),
        "points_reversed": int(sums.get("points_reversed", 0)),
    }


def retention_rows(sizes: dict[date, int], active: dict[tuple[date, date], int], last: date) -> list[dict[str, Any]]:
    """Per cohort: its size and, for month 0 (its registration month) up to ``last``, the members buying."""
    rows = []
    for cohort in sorted(sizes):
        span = month_index(cohort, month_of(last)) + 1
        counts = [0] * max(span, 0)
        for (c, month), n in active.items():
            if c == cohort and 0 <= month_index(cohort, month) < len(counts):
                counts[month_index(cohort, month)] += n
        rows.append({"cohort": cohort.strftime("%Y-%m"), "members": sizes[cohort], "active": counts,
                     "retention": [ratio(n, sizes[cohort]) for n in counts]})
    return rows
