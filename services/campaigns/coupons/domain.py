"""Coupon rules with no I/O and no clock: codes and their check character, template checks,
validity windows, and the discount a coupon gives on a basket."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

# 31 symbols: digits and capitals without 0, O, 1, I and L (misread on receipts and phones).
# 31 is prime, so a weighted sum modulo 31 catches every single-character error and every swap
# of two adjacent characters (see check_char).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
RANDOM_CHARS = 14  # 31**14 ~ 2**69: at least 64 bits from `secrets`
CODE_LENGTH = RANDOM_CHARS + 1
CENT = Decimal("0.01")
KINDS = ("threshold", "percent", "cash", "gift")


def _weighted(body: str) -> int:
    return sum((i + 1) * _VALUE[ch] for i, ch in enumerate(body))


def check_char(body: str) -> str:
    """The character that makes sum((position) * value) over the whole code 0 modulo 31.
    Positions 1..15 are distinct and non-zero modulo 31: a changed character changes the sum by
    weight * difference (never 0 mod a prime); swapping neighbours changes it by their difference."""
    weight = len(body) + 1
    total = _weighted(body) % 31
    # weight * v == -total (mod 31): v = -total * weight^-1
    value = (-total * pow(weight, -1, 31)) % 31
    return ALPHABET[value]


_SPACE = 31 ** RANDOM_CHARS


def new_code() -> str:
    """RANDOM_CHARS symbols from one draw of `secrets` (uniform over 31**14, about 2**69), then the
    check character."""
    n = secrets.randbelow(_SPACE)
    symbols = []
    for _ in range(RANDOM_CHARS):
        n, digit = divmod(n, 31)
        symbols.append(ALPHABET[digit])
    body = "".join(symbols)
    return body + check_char(body)


def new_codes(count: int) -> list[str]:
    """``count`` distinct codes (bulk issue)."""
    out: set[str] = set()
    while len(out) < count:
        out.add(new_code())
    return list(out)


def normalise(raw: str) -> str:
    """What a person typed or a scanner read: spaces and dashes dropped, upper case."""
    return "".join(ch for ch in raw.upper() if ch not in " -")


def code_problem(raw: str) -> str | None:
    """Why a typed code cannot be one of ours (None when it may be): checked before any lookup."""
    code = normalise(raw)
    if len(code) != CODE_LENGTH:
        return f"a coupon code has {CODE_LENGTH} characters"
    bad = sorted({ch for ch in code if ch not in _VALUE})
    if bad:
        return f"characters not used in coupon codes: {''.join(bad)}"
    if _weighted(code) % 31 != 0:
        return "mistyped: the check character does not match"
    return None


# ---- templates -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """What decides a coupon's discount (a template's terms)."""

    kind: str
    amount: Decimal | None = None
    discount_percent: Decimal | None = None  # the share of the price taken off (9折: 10)
    max_discount: Decimal | None = None
    gift_sku: str | None = None
    gift_value: Decimal = Decimal(0)
    min_spend: Decimal = Decimal(0)
    stores: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None  # each covers its subtree
    skus: tuple[str, ...] | None = None
    stackable: bool = False
    regions: tuple[str, ...] | None = None  # a store qualifies by its code, its region or its brand
    brands: tuple[str, ...] | None = None

    def store_scoped(self) -> bool:
        return self.stores is not None or self.regions is not None or self.brands is not None

    def eligible(self, line: "Line") -> bool:
        """A line this coupon applies to: every line when it names no categories or SKUs."""
        if not (self.categories or self.skus):
            return True
        return bool((self.skus and line.sku in self.skus)
                    or (self.categories and not set(line.path or (line.category,)).isdisjoint(self.categories)))


def template_problem(rules: Rules, valid_from: datetime | None, valid_until: datetime | None,
                     valid_days: int | None, budget_value: Decimal | None) -> tuple[str, str] | None:
    """(field, why) for the first inconsistent term of a template; None when it holds together."""
    if rules.kind in ("threshold", "cash") and not rules.amount:
        return "amount", f"a {rules.kind} coupon takes an amount off"
    if rules.kind == "threshold" and rules.min_spend <= 0:
        return "min_spend", "a threshold coupon needs the spend it applies from"
    if rules.kind == "threshold" and rules.amount is not None and rules.amount > rules.min_spend:
        return "amount", "more than the spend it needs"
    if rules.kind == "percent":
        if rules.discount_percent is None or not Decimal(0) < rules.discount_percent <= Decimal(100):
            return "discount_percent", "a percent coupon gives discount_percent or price_percent, between 0 and 100"
        if budget_value is not None and rules.max_discount is None:
            return "max_discount", "a percent coupon under a value budget needs a maximum discount"
    if rules.kind != "percent" and rules.discount_percent is not None:
        return "discount_percent", f"only for percent coupons, not {rules.kind}"
    if rules.kind == "gift" and not rules.gift_sku:
        return "gift_sku", "a gift coupon names the gift's sku"
    if rules.kind == "gift" and budget_value is not None and rules.gift_value <= 0:
        return "gift_value", "a gift coupon under a value budget needs the gift's value (what it counts)"
    if rules.kind != "gift" and rules.gift_sku:
        return "gift_sku", "only for gift coupons"
    if rules.kind in ("percent", "gift") and rules.amount is not None:
        return "amount", f"not for {rules.kind} coupons"
    if valid_days is None and (valid_from is None or valid_until is None):
        return "valid_until", "give valid_from and valid_until, or valid_days"
    if valid_days is not None and valid_from is not None:
        return "valid_days", "give fixed dates or a number of days from issue, not both"
    if valid_from is not None and valid_until is not None and valid_until <= valid_from:
        return "valid_until", "after valid_from"
    return None


def percent_problem(rules: Rules, budget_count: int | None, most: Decimal, confirmed: bool,
                    field: str) -> tuple[str, str] | None:
    """(field, why) when a percent coupon is riskier than its terms say: a discount above ``most``
    percent not confirmed (``field`` is how the percentage was given), or no limit at all on what
    it gives (no max_discount, and no budget_count on how many are issued)."""
    if rules.kind != "percent" or rules.discount_percent is None:
        return None
    if rules.discount_percent > most and not confirmed:
        paid = Decimal(100) - rules.discount_percent
        return field, (f"takes {rules.discount_percent.normalize():f}% off (the buyer pays {paid.normalize():f}%), "
                       f"above the maximum discount of {most.normalize():f}%: send confirm_high_discount true if "
                       "that is meant (9折 is discount_percent 10, or price_percent 90)")
    if rules.max_discount is None and budget_count is None:
        return "max_discount", ("an uncapped percent coupon has no limit on what it costs: give a max_discount "
                                "(the most one coupon takes off), or a budget_count (how many are issued)")
    return None


def face_value(rules: Rules) -> Decimal:
    """What one issued coupon may cost at most (counted against a value budget when issued)."""
    if rules.kind in ("threshold", "cash"):
        return rules.amount or Decimal(0)
    if rules.kind == "percent":
        return rules.max_discount or Decimal(0)
    return rules.gift_value


def window(issued_at: datetime, valid_from: datetime | None, valid_until: datetime | None,
           valid_days: int | None) -> tuple[datetime, datetime]:
    """A coupon's validity: the template's fixed dates, or N days from the moment of issue."""
    if valid_days is not None:
        return issued_at, issued_at + timedelta(days=valid_days)
    assert valid_from is not None and valid_until is not None
    return valid_from, valid_until


def status(state: str, valid_from: datetime, valid_until: datetime, now: datetime) -> str:
    """What a member sees: valid, used, expired, not_yet_valid or void."""
    if state == "redeemed":
        return "used"
    if state == "void":
        return "void"
    if now >= valid_until:
        return "expired"
    if now < valid_from:
        return "not_yet_valid"
    return "valid"


# ---- at checkout -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    sku: str
    amount: Decimal
    qty: Decimal = Decimal(1)
    category: str | None = None
    path: tuple[str, ...] = ()  # the category's codes from the root down (the catalog's tree)


@dataclass
class Basket:
    store: str
    amount: Decimal
    lines: list[Line] = field(default_factory=list)
    region: str | None = None  # the store's, as the catalog announced it
    brand: str | None = None

    def at(self, rules: Rules) -> bool:
        """Whether the basket's store is one the coupon is valid at."""
        return not rules.store_scoped() or (
            basket_in(self.store, rules.stores) or basket_in(self.region, rules.regions)
            or basket_in(self.brand, rules.brands))


def basket_in(value: str | None, names: tuple[str, ...] | None) -> bool:
    return value is not None and names is not None and value in names


class Refusal(Exception):
    """The coupon does not apply: ``field`` names what the caller should look at."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def eligible_amount(rules: Rules, basket: Basket) -> Decimal:
    """The part of the basket the coupon applies to: every line of its categories or SKUs, or the
    whole basket when it names none."""
    if not rules.categories and not rules.skus:
        return basket.amount
    if not basket.lines:
        raise Refusal("this coupon applies to some items only: send the basket's items", "items")
    return sum((ln.amount for ln in basket.lines if rules.eligible(ln)), Decimal(0))


def discount(rules: Rules, basket: Basket) -> Decimal:
    """The amount this coupon takes off this basket (Decimal, cents); raises Refusal when it does
    not apply. A gift coupon takes off one unit of its gift if the basket has it (else 0: the
    till hands the gift)."""
    if not basket.at(rules):
        raise Refusal(f"not valid at store {basket.store}", "store")
    base = eligible_amount(rules, basket)
    if base <= 0 and (rules.categories or rules.skus):
        raise Refusal("no item of the basket is eligible for this coupon", "items")
    if base < rules.min_spend:
        raise Refusal(f"needs a spend of {rules.min_spend} on eligible items (basket: {base})", "amount")
    if rules.kind in ("threshold", "cash"):
        off = rules.amount or Decimal(0)
    elif rules.kind == "percent":
        off = (base * (rules.discount_percent or Decimal(0)) / Decimal(100)).quantize(CENT, rounding=ROUND_HALF_UP)
        if rules.max_discount is not None:
            off = min(off, rules.max_discount)
    else:
        at = _gift_line(rules, basket.lines)
        off = Decimal(0)
        if at is not None:
            gift = basket.lines[at]
            off = min((gift.amount / gift.qty).quantize(CENT, rounding=ROUND_HALF_UP), gift.amount)
    return min(off, base).quantize(CENT)


def _gift_line(rules: Rules, lines: list[Line]) -> int | None:
    """Index of the line a gift coupon takes its unit from: the first line of the gift's sku with a
    unit left (a stacked gift coupon before it may have taken the only one)."""
    return next((i for i, ln in enumerate(lines) if ln.sku == rules.gift_sku and ln.qty > 0), None)


def combine(found: list[tuple[str, Rules]], basket: Basket) -> list[tuple[str, Decimal]]:
    """Discounts of several coupons on one basket: an exclusive coupon goes alone, a code only once.
    Stacked coupons apply one after another, coupons for some items first, then coupons for the
    whole basket (otherwise in the order given): each sees the basket as the coupons before it
    left it, so its minimum spend and its percentage count what is still to pay, and the total
    never exceeds the basket."""
    return settle(found, basket)[0]


def settle(found: list[tuple[str, Rules]], basket: Basket) -> tuple[list[tuple[str, Decimal]], Basket]:
    """``combine``'s discounts, and the basket (amount and lines) left to pay after them."""
    if len({code for code, _ in found}) != len(found):
        raise Refusal("the same coupon twice", "codes")
    if len(found) > 1 and any(not rules.stackable for _, rules in found):
        raise Refusal("an exclusive coupon cannot be combined with others", "codes")
    order = sorted(range(len(found)), key=lambda i: not (found[i][1].categories or found[i][1].skus))
    left = replace(basket, lines=list(basket.lines))
    offs: dict[int, Decimal] = {}
    for i in order:
        rules = found[i][1]
        off = min(discount(rules, left), left.amount)
        offs[i] = off
        left = replace(left, amount=left.amount - off, lines=_take_off(left.lines, rules, off))
    return [(code, offs[i]) for i, (code, _) in enumerate(found)], left


def _take_off(lines: list[Line], rules: Rules, off: Decimal) -> list[Line]:
    """The lines after a discount of ``off``. A gift coupon's comes off the gift's line, which also
    loses the unit given. Any other coupon's is spread over its eligible lines by amount, to the
    cent, the odd cents going to the largest remainders: the lines lose ``off`` exactly (all they
    have when that is less), none goes below zero."""
    out = list(lines)
    if rules.kind == "gift":
        at = _gift_line(rules, lines)
        if at is not None:
            gift = lines[at]
            out[at] = replace(gift, amount=gift.amount - min(off, gift.amount),
                              qty=max(gift.qty - 1, Decimal(0)))
        return out
    eligible = [i for i, ln in enumerate(lines) if rules.eligible(ln)]
    # in whole cents, so every share and remainder is exact
    have = {i: int(lines[i].amount / CENT) for i in eligible}
    base = sum(have.values())
    target = min(int(off.quantize(CENT) / CENT), base)
    if target <= 0:
        return out
    share = {i: target * have[i] // base for i in eligible}  # never more than have[i], as target <= base
    # the odd cents are the sum of the remainders (each under a cent): fewer than the lines with a
    # remainder, which come first and each have room for one (share < target * have / base <= have)
    odd = target - sum(share.values())
    for i in sorted(eligible, key=lambda j: (-(target * have[j] % base), j))[:odd]:
        share[i] += 1
    for i in eligible:
        out[i] = replace(lines[i], amount=lines[i].amount - share[i] * CENT)
    return out
