"""Lifecycle classes on the member record: points' sales move a member at once, the daily run moves
those whose time passed (with a clock the test sets), each change is an event; thresholds are
validated and for admins only."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.envelope import Envelope
from contracts.errors import Forbidden, InvalidInput
from contracts.events import PointsAccrued, parse_payload
from tests.callers import entrypoint_hook, staff
from tests.helpers import query

DEFAULTS = {"at_risk_days": 60, "dormant_days": 180, "lost_days": 365, "active_min_purchases": 2}


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)


def _call(container, method, caller=None, **kwargs):
    with entrypoint_hook(container, method, {"caller": caller} if caller else None) as call:
        return call(**kwargs)


def _sale(member_id: str, at: datetime, source: str = "sale") -> dict:
    return PointsAccrued(member_id=member_id, store="LC1", source=source, reference=str(uuid.uuid4()), points=1,
                         amount=Decimal("9.90") if source == "sale" else None, occurred_at=at,
                         balance=1).envelope(occurred_at=at).model_dump(mode="json")


def _changes(member_id: str) -> list:
    rows = query("members", "SELECT body FROM outbox WHERE event_type = 'member.lifecycle_changed' "
                            "AND body->'payload'->>'member_id' = :m ORDER BY id", m=member_id)
    return [parse_payload(Envelope.model_validate(r.body)) for r in rows]


def test_sales_then_time_move_a_member_through_the_classes(members):
    store = "LC" + uuid.uuid4().hex[:6]
    member = _call(members, "register", name="Class Act", phone="135" + str(uuid.uuid4().int)[:8],
                   registration_store=store)["member"]
    member_id, now = member["member_id"], datetime.now(UTC)
    assert member["lifecycle"] == "new" and member["purchase_count"] == 0
    first = _sale(member_id, now - timedelta(days=2))
    with entrypoint_hook(members, "on_points_accrued") as handle:
        handle([first, first, _sale(member_id, now, source="checkin")])  # a redelivery and a non-sale count nothing
    assert _call(members, "get", member_id=member_id)["purchase_count"] == 1 and not _changes(member_id)
    with entrypoint_hook(members, "on_points_accrued") as handle:
        handle([_sale(member_id, now - timedelta(days=1))])
    got = _call(members, "get", member_id=member_id)
    assert (got["lifecycle"], got["purchase_count"]) == ("active", 2)
    assert datetime.fromisoformat(got["last_purchase_at"]) == now - timedelta(days=1)
    assert got["version"] == member["version"]  # derived state: a clerk's If-Match stays valid

    later = [(now + timedelta(days=d)).isoformat() for d in (60, 200)]
    assert _call(members, "run_lifecycle", at=later[0], stores=[store])["at_risk"] == 1
    assert _call(members, "run_lifecycle", at=later[1], stores=[store])["dormant"] == 1
    assert _call(members, "run_lifecycle", at=later[1], stores=[store])["dormant"] == 0  # nothing left to move
    steps = [(e.from_class, e.to_class, e.reason, e.purchase_count) for e in _changes(member_id)]
    assert steps == [("new", "active", "purchase", 2), ("active", "at_risk", "timer", 2),
                     ("at_risk", "dormant", "timer", 2)]
    found = _call(members, "search", store=store, lifecycle="dormant")["items"]
    assert [m["member_id"] for m in found] == [member_id]
    assert _call(members, "search", store=store, lifecycle="active")["items"] == []
    _call(members, "run_lifecycle", stores=[store])  # back at today: active again, as the sale one day ago says
    assert _call(members, "get", member_id=member_id)["lifecycle"] == "active"


def test_thresholds_are_checked_and_set_by_admins_only(members):
    assert {k: v for k, v in _call(members, "lifecycle_settings").items() if k in DEFAULTS} == DEFAULTS
    with pytest.raises(InvalidInput) as raised:
        _call(members, "set_lifecycle_settings", **{**DEFAULTS, "lost_days": 100})
    assert raised.value.field == "lost_days"
    with pytest.raises(Forbidden):
        _call(members, "set_lifecycle_settings", caller=staff("marketer"), **DEFAULTS)
    try:
        saved = _call(members, "set_lifecycle_settings", caller=staff("admin", id="boss"),
                      **{**DEFAULTS, "at_risk_days": 45})
        assert saved["at_risk_days"] == 45 and saved["updated_by"] == "staff:boss" and saved["version"] >= 1
        assert _call(members, "lifecycle_settings", caller=staff("marketer"))["at_risk_days"] == 45
    finally:
        _call(members, "set_lifecycle_settings", **DEFAULTS)
