"""In-memory stand-in for the coupon tables as checkout uses them (ports.CheckoutRows), so the
rules at the till (validity, ownership, stacking, redemption replays, refunds) run in
milliseconds. No locks and no concurrent tills: those are tested on PostgreSQL (tests/service)."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from services.campaigns.coupons import domain, repo


class FakeCoupons:
    """Coupons by code and redemptions by (store, transaction id); each method does what its SQL
    in services/campaigns/coupons/repo.py does."""

    def __init__(self) -> None:
        self.coupons: dict[str, SimpleNamespace] = {}
        self.redemptions: dict[tuple[str, str], SimpleNamespace] = {}

    def add(self, terms: dict[str, Any], valid_from: datetime, valid_until: datetime, member_id: str | None,
            state: str = "issued") -> str:
        code = domain.new_code()
        self.coupons[code] = SimpleNamespace(
            id=uuid.uuid4(), code=code, template_id=uuid.uuid4(), member_id=member_id, state=state, campaign_id=None,
            valid_from=valid_from, valid_until=valid_until, kind=terms["kind"], terms=terms, redemption_id=None,
            discount=None)
        return code

    def rules_of(self, terms: dict[str, Any]) -> domain.Rules:
        return repo.rules_of(terms)  # pure: how stored terms read as rules

    def lock_codes(self, tx: Any, codes: Sequence[str]) -> dict[str, Any]:
        return self.find_codes(tx, codes)

    def find_codes(self, tx: Any, codes: Sequence[str]) -> dict[str, Any]:
        return {c: self.coupons[c] for c in codes if c in self.coupons}

    def get_redemption(self, tx: Any, store: str, transaction_id: str, lock: bool = False) -> Any:
        return self.redemptions.get((store, transaction_id))

    def record_redemption(self, tx: Any, row: dict[str, Any], applied: Sequence[tuple[str, Decimal]]) -> bool:
        key = (row["store"], row["transaction_id"])
        if key in self.redemptions:
            return False
        self.redemptions[key] = SimpleNamespace(**row, state="redeemed", refund_result=None)
        by_id = {str(c.id): c for c in self.coupons.values()}
        for coupon_id, discount in applied:
            by_id[coupon_id].__dict__.update(state="redeemed", redemption_id=row["id"], discount=discount)
        return True

    def redemption_coupons(self, tx: Any, redemption: Any) -> list[Any]:
        return sorted((c for c in self.coupons.values()
                       if str(c.id) in redemption.coupon_ids and c.redemption_id == redemption.id),
                      key=lambda c: c.code)

    def restore(self, tx: Any, coupon_ids: Sequence[str]) -> None:
        for coupon in self.coupons.values():
            if str(coupon.id) in coupon_ids:  # an erased member's coupon comes back void
                coupon.__dict__.update(state="issued" if coupon.member_id else "void", redemption_id=None,
                                       discount=None)

    def mark_refunded(self, tx: Any, redemption_id: str, result: dict[str, Any], at: datetime) -> None:
        for redemption in self.redemptions.values():
            if redemption.id == redemption_id:
                redemption.__dict__.update(state="refunded", refund_result=result)
