"""The simulated chain of bench.points: its catalogue, stores and tills' baskets (sales, refunds),
and the books the simulator keeps of what it sent and what the platform answered, to audit the
ledger against."""
from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

RETRY_SHARE, REFUND_SHARE = 0.01, 0.02
CENT = Decimal("0.01")

# category, share of lines, price range (yuan), sold by weight
CATEGORIES = [("grocery", 28, (2, 60), False), ("dairy", 12, (3, 40), False), ("produce", 12, (2, 30), True),
              ("bakery", 8, (3, 35), False), ("beverages", 12, (2, 80), False), ("snacks", 9, (2, 30), False),
              ("household", 7, (5, 150), False), ("personal_care", 6, (8, 200), False),
              ("frozen", 4, (8, 90), False), ("tobacco", 1, (15, 100), False), ("gift_card", 1, (50, 500), False)]



# ---- the catalogue and baskets ----------------------------------------------------------
@dataclass(frozen=True)
class Product:
    sku: str
    category: str
    price: Decimal
    by_weight: bool


def catalogue(rng: random.Random, size: int = 3000) -> list[Product]:
    products = []
    weights = [c[1] for c in CATEGORIES]
    for i in range(size):
        name, _, (low, high), by_weight = rng.choices(CATEGORIES, weights)[0]
        price = (Decimal(rng.uniform(low, high)).quantize(Decimal("0.1")) - Decimal("0.01")).max(Decimal("0.99"))
        products.append(Product(f"{name[:3].upper()}{i:05d}", name, price, by_weight))
    return products


class Fleet:
    """Stores, their terminals and keys, the members, and how a till builds a sale or refund."""

    def __init__(self, rng: random.Random, stores: list[str], terminals: int, members: list[str]) -> None:
        self.rng = rng
        self.stores = stores
        self.terminals = [(s, f"T{t:02d}") for s in stores for t in range(1, terminals + 1)]
        self.members = members
        self.regulars = members[: max(1, len(members) // 10)]  # a tenth of the members make half the sales
        self.products = catalogue(rng)
        self.keys: dict[str, str] = {}
        self.run = uuid.uuid4().hex[:6]
        self.seq: Counter[str] = Counter()

    def member(self) -> str:
        return self.rng.choice(self.regulars if self.rng.random() < 0.5 else self.members)

    def sale(self, store: str, terminal: str) -> dict[str, Any]:
        rng = self.rng
        self.seq[store] += 1
        lines, total, discounted = [], Decimal(0), Decimal(0)
        for product in rng.sample(self.products, rng.choices(range(1, 9), [22, 20, 16, 13, 10, 8, 6, 5])[0]):
            qty = Decimal(rng.randint(150, 2500)) / 1000 if product.by_weight else Decimal(rng.choice([1, 1, 1, 2, 3]))
            amount = (product.price * qty).quantize(CENT)
            if amount <= 0:
                amount = CENT
            line: dict[str, Any] = {"sku": product.sku, "category": product.category, "qty": str(qty),
                                    "amount": str(amount)}
            if rng.random() < 0.1:  # a promotion on the line
                discount = (amount * Decimal(rng.choice([5, 10, 20, 30])) / 100).quantize(CENT)
                line["discount"] = str(discount)
                discounted += discount
            lines.append(line)
            total += amount
        body: dict[str, Any] = {
            "store": store, "terminal": terminal, "transaction_id": f"{terminal}-{self.run}-{self.seq[store]:07d}",
            "member_id": self.member(), "amount": str(total), "currency": "CNY", "items": lines,
            "sold_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        }
        if rng.random() < 0.05 and total - discounted >= 20:  # a coupon on the whole basket
            body["discounts"] = [{"code": "MEMBERDAY10", "amount": "10.00"}]
            discounted += 10
        return body

    def refund(self, store: str, terminal: str, sale: tuple[str, Decimal]) -> dict[str, Any]:
        transaction_id, paid = sale
        amount = paid if self.rng.random() < 0.6 else (paid * Decimal(self.rng.uniform(0.1, 0.9))).quantize(CENT)
        self.seq["refund:" + store] += 1
        return {"store": store, "refund_id": f"R{terminal}-{self.run}-{self.seq['refund:' + store]:06d}",
                "transaction_id": transaction_id, "terminal": terminal, "amount": str(max(amount, CENT)),
                "refunded_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds")}


def paid(body: dict[str, Any]) -> Decimal:
    """What the customer paid: the amount less line and sale discounts."""
    return (Decimal(body["amount"]) - sum((Decimal(i.get("discount", "0")) for i in body["items"]), Decimal(0))
            - sum((Decimal(d["amount"]) for d in body.get("discounts", [])), Decimal(0)))


# ---- what was sent and what the platform answered -----------------------------------------
@dataclass
class Books:
    """The simulator's own books, to audit the ledger against."""

    sales: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> member, points earned
    refunds: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)  # -> member, points reversed
    refundable: dict[str, list[tuple[str, Decimal]]] = field(default_factory=lambda: defaultdict(list))
    refunded: set[tuple[str, str]] = field(default_factory=set)  # sales a refund was made for
    recent: dict[str, deque[dict[str, Any]]] = field(default_factory=lambda: defaultdict(lambda: deque(maxlen=50)))
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    replays: int = 0
    unanswered: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # kind, store, body

    def error(self, what: str, status: int, text: str) -> None:
        self.errors[f"{what} {status}"] += 1
        if len(self.samples) < 12:
            self.samples.append(f"{what} {status}: {text[:300]}")

    def mismatch(self, text: str) -> None:
        if len(self.mismatches) < 1000:
            self.mismatches.append(text)

    def sale_answer(self, body: dict[str, Any], result: dict[str, Any], resent: bool) -> None:
        key = (body["store"], body["transaction_id"])
        points = int(result["points_earned"])
        if result.get("member_id") not in (None, body.get("member_id")):
            self.mismatch(f"sale {key} credited to {result.get('member_id')}, not {body.get('member_id')}")
        if key in self.sales:
            self.replays += 1
            if not result.get("replayed"):
                self.mismatch(f"sale {key} sent again was not answered as a replay")
            if points != self.sales[key][1]:
                self.mismatch(f"sale {key} earned {self.sales[key][1]} then {points} on replay")
            return
        if result.get("replayed") and not resent:
            self.mismatch(f"first sending of sale {key} answered as a replay")
        self.sales[key] = (body["member_id"], points)
        self.recent[body["store"]].append(body)
        if paid(body) > 0 and key not in self.refunded:
            self.refundable[body["store"]].append((body["transaction_id"], paid(body)))

    def refund_answer(self, body: dict[str, Any], result: dict[str, Any]) -> None:
        key = (body["store"], body["refund_id"])
        reversed_ = int(result["points_reversed"])
        if key in self.refunds:
            if reversed_ != self.refunds[key][1]:
                self.mismatch(f"refund {key} reversed {self.refunds[key][1]} then {reversed_}")
            return
        self.refunds[key] = (str(result.get("member_id")), reversed_)

    def take_refundable(self, rng: random.Random, store: str) -> tuple[str, Decimal] | None:
        pool = self.refundable[store]
        if not pool:
            return None
        sale = pool.pop(rng.randrange(len(pool)))  # each sale refunded at most once
        self.refunded.add((store, sale[0]))
        return sale

