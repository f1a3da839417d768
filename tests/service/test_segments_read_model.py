"""Campaigns' member read model fed by real events: the members and points services run on the
real broker and database, and campaigns builds its copy only from what they publish."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from contracts.events import (
    MemberRegistered,
    MemberUpdated,
    PointsAccrued,
    PointsRedeemed,
    PointsReversed,
    TierChanged,
)
from service_runtime.config import amqp_uri
from tests.callers import ClusterRpcClient, entrypoint_hook
from tests.helpers import query, scalar, wait_for


def _phone() -> str:
    return "136" + str(uuid.uuid4().int)[:8]


def call(container, method, *args, **kwargs):
    with entrypoint_hook(container, method) as hook:
        return hook(*args, **kwargs)


@pytest.fixture
def platform(start_service):
    campaigns = start_service("campaigns")  # its queues exist before the producers publish
    start_service("points")
    start_service("members")
    return campaigns


def _member(campaigns, member_id):
    return scalar("campaigns", "SELECT count(*) FROM rm_members WHERE member_id = :m", m=member_id) and \
        call(campaigns, "read_model_member", member_id)


def test_registration_sales_refunds_updates_and_erasure_reach_the_read_model(platform):
    campaigns = platform
    with ClusterRpcClient(uri=amqp_uri()) as cluster:
        member = cluster.members.register(name="Read Model", phone=_phone(), channel="app", gender="female",
                                          birthday="1990-04-01", tags=["vip", "coffee"],
                                          registration_store="S7")["member"]
        member_id = member["member_id"]
        wait_for(lambda: _member(campaigns, member_id), message="member in the read model")
        wait_for(lambda: scalar("points", "SELECT count(*) FROM accounts WHERE member_id = :m", m=member_id),
                 message="points account")
        sold_at = datetime.now(UTC) - timedelta(days=3)
        cluster.points.record_sale(member_id=member_id, store="S7", transaction_id="rm-1", amount="120.50",
                                   items=[], sold_at=sold_at.isoformat())
        cluster.points.record_sale(member_id=member_id, store="S8", transaction_id="rm-2", amount="30.25",
                                   items=[], sold_at=datetime.now(UTC).isoformat())
        cluster.points.refund_sale(store="S8", transaction_id="rm-2", refund_id="rf-1", amount="10.00",
                                   refunded_at=datetime.now(UTC).isoformat())
        wait_for(lambda: call(campaigns, "read_model_member", member_id)["spend"] == "140.75",
                 message="sales and refund in the read model")
        account = cluster.points.get_account(member_id=member_id)
        wait_for(lambda: call(campaigns, "read_model_member", member_id)["balance"] == account["balance"],
                 message="balance follows points")
        row = call(campaigns, "read_model_member", member_id)
        assert row["purchases"] == 2
        assert row["gender"] == "female" and row["birthday"] == "1990-04-01"
        assert sorted(row["tags"]) == ["coffee", "vip"] and row["store"] == "S7" and row["channel"] == "app"
        assert datetime.fromisoformat(row["last_purchase_at"]) > sold_at

        cluster.members.update(member_id=member_id, expected_version=member["version"], tags=["tea"],
                               gender="male")
        wait_for(lambda: call(campaigns, "read_model_member", member_id)["tags"] == ["tea"],
                 message="tags updated")
        assert call(campaigns, "read_model_member", member_id)["gender"] == "male"

        cluster.members.erase(member_id=member_id)
        wait_for(lambda: call(campaigns, "read_model_member", member_id)["status"] == "erased",
                 message="erased")
    row = call(campaigns, "read_model_member", member_id)
    assert row["gender"] is None and row["birthday"] is None and row["tags"] == []
    assert row["spend"] == "140.75"  # non-personal totals stay


BATCHED = ("on_member_registered", "on_points_accrued")  # these take a list of events


def deliver(container, handler, payload, **envelope_kwargs):
    envelope = payload.envelope(**envelope_kwargs).model_dump(mode="json")
    with entrypoint_hook(container, handler) as handle:
        handle([envelope] if handler in BATCHED else envelope)
    return envelope


def test_a_redelivered_event_counts_once_and_an_older_update_does_not_undo_a_newer_one(start_service):
    campaigns = start_service("campaigns", outbox_relay=False)
    member_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    deliver(campaigns, "on_member_registered", MemberRegistered(
        member_id=member_id, member_number="1", channel="pos", registered_at=now, tags=["a"]))
    sale = PointsAccrued(member_id=member_id, store="S1", source="sale", reference="t1", points=10,
                         amount=Decimal("10.10"), occurred_at=now, balance=10)
    envelope = deliver(campaigns, "on_points_accrued", sale)
    with entrypoint_hook(campaigns, "on_points_accrued") as handle:
        handle([envelope, envelope])  # the same event again, twice in one batch (at-least-once delivery)
    row = call(campaigns, "read_model_member", member_id)
    assert row["purchases"] == 1 and row["spend"] == "10.10" and row["balance"] == 10

    deliver(campaigns, "on_member_updated", MemberUpdated(member_id=member_id, version=3, changed_fields=["tags"],
                                                          status="active", tags=["new"]))
    deliver(campaigns, "on_member_updated", MemberUpdated(member_id=member_id, version=2, changed_fields=["tags"],
                                                          status="active", tags=["old"]))
    assert call(campaigns, "read_model_member", member_id)["tags"] == ["new"]
    # an older balance arriving late does not overwrite a newer one
    deliver(campaigns, "on_points_accrued", sale.model_copy(update={"reference": "t0", "balance": 3}),
            occurred_at=now - timedelta(hours=1))
    assert call(campaigns, "read_model_member", member_id)["balance"] == 10


def test_a_batch_of_sales_sums_per_day_and_keeps_each_members_latest_balance(start_service):
    campaigns = start_service("campaigns", outbox_relay=False)
    one, two = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC).replace(hour=12)
    sales = [(one, "a", now, 30, "7.50"), (one, "b", now - timedelta(minutes=5), 20, "2.25"),
             (two, "c", now - timedelta(minutes=1), 9, "9.00"), (one, "d", now - timedelta(days=1), 10, "1.00")]
    batch = [PointsAccrued(member_id=m, store="S1", source="sale", reference=ref, points=balance, balance=balance,
                           amount=Decimal(amount), occurred_at=at).envelope(occurred_at=at).model_dump(mode="json")
             for m, ref, at, balance, amount in sales]
    with entrypoint_hook(campaigns, "on_points_accrued") as handle:
        handle(batch)  # the latest sale of member one comes first
    first, second = call(campaigns, "read_model_member", one), call(campaigns, "read_model_member", two)
    assert first["balance"] == 30 and first["purchases"] == 3 and first["spend"] == "10.75"
    assert second["balance"] == 9 and second["purchases"] == 1 and second["spend"] == "9.00"
    assert scalar("campaigns", "SELECT purchases FROM rm_purchases WHERE member_id = :m AND day = :d",
                  m=one, d=now.date()) == 2
    assert scalar("campaigns", "SELECT last_purchase_at FROM rm_members WHERE member_id = :m", m=one) == now


def test_refunds_tier_changes_and_balances_come_in_batches_each_event_once(start_service):
    campaigns = start_service("campaigns", outbox_relay=False)
    member_id = str(uuid.uuid4())
    now = datetime.now(UTC).replace(hour=12)
    deliver(campaigns, "on_points_accrued", PointsAccrued(
        member_id=member_id, store="S1", source="sale", reference="t1", points=50, amount=Decimal("50.00"),
        occurred_at=now, balance=50), occurred_at=now)

    def refund(refund_id: str, amount: str, balance: int, minutes: int) -> dict:
        at = now + timedelta(minutes=minutes)
        return PointsReversed(member_id=member_id, store="S1", transaction_id="t1", refund_id=refund_id,
                              amount=Decimal(amount), points_reversed=1, points_uncovered=0,
                              redeemed_points_returned=0, refunded_at=at, balance=balance
                              ).envelope(occurred_at=at).model_dump(mode="json")

    first, second = refund("r1", "10.00", 40, 2), refund("r2", "5.00", 35, 1)
    tiers = [TierChanged(member_id=member_id, old_tier=old, new_tier=new, direction="up", reason="sale",
                         changed_at=now).envelope().model_dump(mode="json")
             for old, new in (("normal", "silver"), ("silver", "gold"))]
    with entrypoint_hook(campaigns, "on_points_reversed") as handle:
        handle([first, second, first])  # the latest balance comes first; r1 twice (at-least-once delivery)
    with entrypoint_hook(campaigns, "on_tier_changed") as handle:
        handle(tiers)
    with entrypoint_hook(campaigns, "on_points_redeemed") as handle:  # an older balance arriving late
        handle([PointsRedeemed(member_id=member_id, store="S1", transaction_id="t2", hold_id="h", points=1,
                               redeemed_at=now, balance=99).envelope(occurred_at=now).model_dump(mode="json")])
    row = call(campaigns, "read_model_member", member_id)
    assert (row["spend"], row["purchases"], row["balance"], row["tier"]) == ("35.00", 1, 40, "gold")


def test_a_points_event_before_registration_still_lands(start_service):
    campaigns = start_service("campaigns", outbox_relay=False)
    member_id = str(uuid.uuid4())
    deliver(campaigns, "on_points_accrued", PointsAccrued(
        member_id=member_id, store="S1", source="sale", reference="x", points=5, amount=Decimal("5.00"),
        occurred_at=datetime.now(UTC), balance=5))
    deliver(campaigns, "on_member_registered", MemberRegistered(
        member_id=member_id, member_number="2", channel="web", registered_at=datetime.now(UTC),
        birthday=date(2000, 1, 2), registration_store="S9"))
    row = call(campaigns, "read_model_member", member_id)
    assert row["balance"] == 5 and row["store"] == "S9" and row["birthday"] == "2000-01-02"


def test_a_registration_after_a_newer_profile_update_keeps_the_update(start_service):
    campaigns = start_service("campaigns", outbox_relay=False)
    late, plain = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    deliver(campaigns, "on_member_updated", MemberUpdated(member_id=late, version=2, changed_fields=["tags"],
                                                          status="active", tags=["newer"]))
    registered = [MemberRegistered(member_id=m, member_number=n, channel="app", registered_at=now,
                                   tags=["at-registration"], registration_store="S3").envelope().model_dump(mode="json")
                  for m, n in ((late, "3"), (plain, "4"))]
    with entrypoint_hook(campaigns, "on_member_registered") as handle:
        handle(registered)  # both in one batch: one statement
    first, second = call(campaigns, "read_model_member", late), call(campaigns, "read_model_member", plain)
    assert first["tags"] == ["newer"] and first["channel"] == "app" and first["store"] is None
    assert second["tags"] == ["at-registration"] and second["store"] == "S3" and second["channel"] == "app"


def test_a_member_import_reaches_the_read_model_with_its_segmentation_fields(platform):
    campaigns = platform
    store_code = "IMP" + uuid.uuid4().hex[:6].upper()
    rows = [{"line": i + 1, "fields": {
        "name": f"Import {i}", "phone": _phone(), "gender": "female" if i % 2 else "male",
        "birthday": "1985-07-0" + str(1 + i % 9), "tags": "vip;coffee" if i % 3 == 0 else "",
        "registration_store": store_code}} for i in range(600)]
    with ClusterRpcClient(uri=amqp_uri()) as cluster:
        job = cluster.members.start_import(source="test", format="csv", encoding="utf-8")
        for n in range(3):
            cluster.members.import_batch(job["job_id"], batch_no=n, rows=rows[n * 200:(n + 1) * 200])
        cluster.members.finish_import(job["job_id"])

    def count(rule):
        return call(campaigns, "preview_rule", {"all": [{"field": "store", "op": "eq", "value": store_code}, rule]},
                    sample=0)["size"]

    wait_for(lambda: count({"field": "channel", "op": "eq", "value": "import"}) == 600, timeout=60,
             message="600 imported members in the read model")
    assert count({"field": "gender", "op": "eq", "value": "female"}) == 300
    assert count({"field": "tags", "op": "has", "value": "vip"}) == 200
    assert count({"field": "birthday_month", "op": "eq", "value": 7}) == 600
    # one members.imported event a batch, none per member; points opened an account for each
    events = query("members", "SELECT event_type, jsonb_array_length(body->'payload'->'members') AS n FROM outbox "
                              "WHERE body->'payload'->>'job_id' = :job", job=job["job_id"])
    assert sorted((e.event_type, e.n) for e in events) == [("members.imported", 200)] * 3
    wait_for(lambda: scalar("points", "SELECT count(*) FROM accounts WHERE registration_store = :s",
                            s=store_code) == 600, timeout=60, message="600 points accounts")
