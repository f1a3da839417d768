"""The rewards catalog against the real points service: points are held, the reward given, the hold
committed; on any failure released. Never points without a reward or a reward without points."""
from __future__ import annotations

import pytest
from nameko.exceptions import RemoteError

from contracts.errors import Conflict, Forbidden, InsufficientPoints, InvalidInput, NotFound
from tests.callers import ClusterRpcClient
from tests.helpers import scalar
from tests.service.coupons_support import CLERK_S1, MARKETER, call, member_caller, template
from tests.service.points_support import invariant_violations, open_account, sale


@pytest.fixture
def services(start_service):
    points = start_service("points", outbox_relay=False)
    campaigns = start_service("campaigns", outbox_relay=False)
    yield points, campaigns
    assert invariant_violations() == []


def rich_member(points, amount: str = "500.00") -> str:
    member_id, _ = open_account()
    call(points, "record_sale", **sale(member_id, amount))  # 1 point per unit by the default program
    return member_id


def account(points, member_id):
    return call(points, "get_account", member_id)


def gift_item(campaigns, stock: int, points: int = 100) -> dict:
    return call(campaigns, "create_catalog_item", caller=MARKETER, name="Mug", kind="gift", gift_sku="MUG-1",
                points=points, stock=stock)


def test_exchanging_points_for_a_coupon_issues_it_and_spends_the_points_once(services):
    points, campaigns = services
    member = rich_member(points)
    before = account(points, member)["balance"]
    made = call(campaigns, "create_template", caller=MARKETER, **template(name="10 off", kind="cash", amount="10.00",
                                                                           min_spend="0"))
    item = call(campaigns, "create_catalog_item", caller=MARKETER, name="10 off voucher", kind="coupon",
                template_id=made["template_id"], points=150)
    assert item["stock"] is None
    me = member_caller(member)
    done = call(campaigns, "exchange", caller=me, item_id=item["item_id"], member_id=member, exchange_key="x-1")
    assert done["status"] == "completed" and done["points"] == 150 and done["coupon"]["status"] == "valid"
    assert done["coupon"]["member_id"] == member and done["coupon"]["source"] == "exchange"
    again = call(campaigns, "exchange", caller=me, item_id=item["item_id"], member_id=member, exchange_key="x-1")
    assert again == {**done, "replayed": True}
    after = account(points, member)
    assert after["balance"] == before - 150 and after["held"] == 0
    mine = call(campaigns, "member_coupons", member, caller=me)["items"]
    assert [c["code"] for c in mine] == [done["coupon"]["code"]]
    with pytest.raises(Conflict) as refused:
        call(campaigns, "exchange", caller=me, item_id=item["item_id"], member_id=member, exchange_key="x-1",
             store="S9")
    assert refused.value.field == "exchange_key"
    with pytest.raises(Forbidden):
        call(campaigns, "exchange", caller=member_caller(rich_member(points)), item_id=item["item_id"],
             member_id=member, exchange_key="x-2")


def test_not_enough_points_gives_nothing_and_holds_nothing(services):
    points, campaigns = services
    member = rich_member(points, "50.00")
    item = gift_item(campaigns, stock=5, points=100)
    with pytest.raises(InsufficientPoints):
        call(campaigns, "exchange", caller=member_caller(member), item_id=item["item_id"], member_id=member,
             exchange_key="poor")
    assert account(points, member)["held"] == 0 and account(points, member)["balance"] == 50
    listed = {i["item_id"]: i for i in call(campaigns, "catalog", limit=500)["items"]}
    assert listed[item["item_id"]]["stock"] == 5 and listed[item["item_id"]]["exchanged"] == 0
    with pytest.raises(Conflict):  # the same key again: the same (failed) answer, not a second try
        call(campaigns, "exchange", caller=member_caller(member), item_id=item["item_id"], member_id=member,
             exchange_key="poor")


def test_a_reward_that_cannot_be_given_releases_the_points(services):
    points, campaigns = services
    member = rich_member(points)
    capped = call(campaigns, "create_template", caller=MARKETER, **template(per_member_limit=1))
    item = call(campaigns, "create_catalog_item", caller=MARKETER, name="Capped", kind="coupon",
                template_id=capped["template_id"], points=100)
    me = member_caller(member)
    call(campaigns, "exchange", caller=me, item_id=item["item_id"], member_id=member, exchange_key="first")
    balance = account(points, member)["balance"]
    with pytest.raises(Conflict) as refused:
        call(campaigns, "exchange", caller=me, item_id=item["item_id"], member_id=member, exchange_key="second")
    assert refused.value.field == "per_member_limit"
    assert account(points, member)["balance"] == balance and account(points, member)["held"] == 0
    assert scalar("campaigns", "SELECT state FROM catalog_exchanges WHERE exchange_key = 'second'") == "failed"


def test_concurrent_exchanges_never_take_stock_below_zero_nor_points_without_a_gift(services):
    points, campaigns = services
    members = [rich_member(points, "300.00") for _ in range(10)]
    item = gift_item(campaigns, stock=3, points=100)
    outcomes = []
    with ClusterRpcClient() as client:
        replies = [client.campaigns.exchange.call_async(item_id=item["item_id"], member_id=m, exchange_key="rush")
                   for m in members]
        for reply in replies:
            try:
                outcomes.append(reply.result()["status"])
            except RemoteError as exc:
                assert exc.exc_type == "Conflict" and "out of stock" in str(exc.value), exc
                outcomes.append("out of stock")
    assert outcomes.count("completed") == 3 and outcomes.count("out of stock") == 7
    listed = {i["item_id"]: i for i in call(campaigns, "catalog", limit=500)["items"]}
    assert listed[item["item_id"]]["stock"] == 0 and listed[item["item_id"]]["exchanged"] == 3
    balances = sorted(account(points, m)["balance"] for m in members)
    assert balances == [200] * 3 + [300] * 7
    assert all(account(points, m)["held"] == 0 for m in members)
    restocked = call(campaigns, "restock_item", item["item_id"], caller=MARKETER, add=2)
    assert restocked["stock"] == 2


def test_catalog_items_are_checked_and_managed_by_marketers(services):
    _, campaigns = services
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "create_catalog_item", caller=MARKETER, name="Mug", kind="gift", gift_sku="M", points=10)
    assert refused.value.field == "stock"
    with pytest.raises(InvalidInput) as refused:
        call(campaigns, "create_catalog_item", caller=MARKETER, name="Mug", kind="gift", gift_sku="M", points=-1,
             stock=1)
    assert refused.value.field == "points"
    with pytest.raises(NotFound):
        call(campaigns, "create_catalog_item", caller=MARKETER, name="V", kind="coupon",
             template_id="00000000-0000-0000-0000-000000000000", points=10)
    with pytest.raises(Forbidden):
        call(campaigns, "create_catalog_item", caller=CLERK_S1, name="Mug", kind="gift", gift_sku="M", points=10,
             stock=1)


def test_a_reward_whose_hold_ended_before_its_commit_is_taken_back(services):
    """A crash left an exchange rewarded but uncommitted, and its hold expired meanwhile: the
    recovery cannot collect the points, so the gift goes back on the shelf and nothing is spent."""
    import uuid

    from contracts.coupons import Exchange
    from services.campaigns.coupons.views import request_hash as _hash
    from tests.service.segments_support import execute

    points, campaigns = services
    member = rich_member(points)
    before = account(points, member)
    item = gift_item(campaigns, stock=1)
    exchange_id, key = str(uuid.uuid4()), "crashed-1"
    digest = _hash(Exchange(item_id=item["item_id"], member_id=member, exchange_key=key))
    execute("INSERT INTO catalog_exchanges (id, member_id, exchange_key, item_id, store, points, request_hash) "
            "VALUES (:id, :m, :k, :i, 'ONLINE', 100, :h)",
            {"id": exchange_id, "m": member, "k": key, "i": item["item_id"], "h": digest})
    hold = call(points, "hold", member_id=member, store="ONLINE", transaction_id=f"exchange-{exchange_id}", points=100)
    call(points, "release_hold", hold["hold_id"])  # as if it had expired
    execute("UPDATE catalog_items SET stock = 0, exchanged = 1 WHERE id = :i", {"i": item["item_id"]})
    execute("UPDATE catalog_exchanges SET state = 'rewarded', hold_id = :h WHERE id = :id",
            {"h": hold["hold_id"], "id": exchange_id})
    with pytest.raises(Conflict):  # the retry (or the recovery timer) finds the hold gone
        call(campaigns, "exchange", caller=member_caller(member), item_id=item["item_id"], member_id=member,
             exchange_key=key)
    assert scalar("campaigns", "SELECT stock FROM catalog_items WHERE id = :i", i=item["item_id"]) == 1
    assert scalar("campaigns", "SELECT state FROM catalog_exchanges WHERE id = :i", i=exchange_id) == "failed"
    after = account(points, member)
    assert (after["balance"], after["held"]) == (before["balance"], 0)


def test_points_away_is_a_503_and_the_exchange_stays_pending_for_the_timer(start_service):
    import uuid

    from contracts.errors import ServiceUnavailable

    campaigns = start_service("campaigns", outbox_relay=False)  # points is not running
    item = gift_item(campaigns, stock=1)
    member = str(uuid.uuid4())
    with pytest.raises(ServiceUnavailable) as refused:
        call(campaigns, "exchange", caller=member_caller(member), item_id=item["item_id"], member_id=member,
             exchange_key="away-1")
    assert type(refused.value) is ServiceUnavailable  # the gateway maps errors by class name: a 503
    assert refused.value.field == "exchange_key"
    assert scalar("campaigns", "SELECT state FROM catalog_exchanges WHERE member_id = :m", m=member) == "pending"
