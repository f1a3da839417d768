"""The catalog's master data reaching points on the real broker and database: a store's time zone
changed through the catalog's RPC moves the expiry of the next accrual's lot within seconds; a SKU
excluded through the catalog stops earning; a closed store's sale is refused; a sale naming a store
or a SKU the catalog does not know is accepted and flagged (docs/catalog.md)."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.errors import StoreNotOpen
from contracts.points import Program
from tests.helpers import query, scalar, wait_for
from tests.service.notify_support import call
from tests.service.points_support import execute, invariant_violations, open_account, sale

ADMIN = '{"kind":"staff","id":"a-1","roles":["admin"]}'


@pytest.fixture
def services(start_service):
    catalog = start_service("catalog")
    points = start_service("points", outbox_relay=False)
    call(points, "set_program", program=Program().model_dump(mode="json"))  # expiry 12 months after earning
    yield catalog, points
    assert invariant_violations() == []


def _code(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _store(catalog, zone: str = "Asia/Shanghai") -> str:
    code = _code("ST")
    call(catalog, "create", caller=ADMIN, kind="store",
         record={"code": code, "name": "Nanjing Road", "time_zone": zone, "currency": "CNY"})
    return code


def _change_store(catalog, code: str, **changes: object) -> None:
    current = call(catalog, "get", caller=ADMIN, kind="store", key=code)
    call(catalog, "update", caller=ADMIN, kind="store", key=code, expected_version=current["version"],
         changes=changes)


def _expected_expiry(sold_at: datetime, zone: str) -> datetime:
    """The end of the local day twelve months after the sale's local day."""
    local = sold_at.astimezone(ZoneInfo(zone)).date()
    last = date(local.year + 1, local.month, local.day) if (local.month, local.day) != (2, 29) else \
        date(local.year + 1, 2, 28)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _lot_expiry(member_id: str) -> datetime:
    return scalar("points", "SELECT expires_at FROM lots WHERE member_id = :m ORDER BY id DESC LIMIT 1", m=member_id)


def _until_points_earns(points, member_id: str, store: str, check, items: list[dict] | None = None) -> dict:
    """Sales until one's answer passes ``check`` (points picks up the catalog's change within seconds)."""
    answers: list[dict] = []

    def sold() -> bool:
        answers.append(call(points, "record_sale", **sale(member_id, "10.00", store=store, items=items,
                                                          sold_at=SOLD_AT)))
        return check(answers[-1])
    wait_for(sold, timeout=15, interval=0.5, message="points acts on the catalog's change")
    return answers[-1]


# 20:30 UTC: already tomorrow in Shanghai, still today in New York
SOLD_AT = datetime.now(UTC).replace(hour=20, minute=30, second=0, microsecond=0) - timedelta(days=1)


def test_a_time_zone_changed_in_the_catalog_moves_the_next_accruals_expiry(services):
    catalog, points = services
    code = _store(catalog, "Asia/Shanghai")
    member_id, _ = open_account(store=code)
    _until_points_earns(points, member_id, code, lambda answer: answer["flags"] == [])
    assert _lot_expiry(member_id) == _expected_expiry(SOLD_AT, "Asia/Shanghai")

    _change_store(catalog, code, time_zone="America/New_York")
    _until_points_earns(points, member_id, code,
                        lambda _: _lot_expiry(member_id) == _expected_expiry(SOLD_AT, "America/New_York"))
    assert _expected_expiry(SOLD_AT, "America/New_York") != _expected_expiry(SOLD_AT, "Asia/Shanghai")


def test_a_sku_excluded_in_the_catalog_stops_earning_on_that_sku(services):
    catalog, points = services
    code, root, sku = _store(catalog), _code("cat"), _code("SKU")
    call(catalog, "create", caller=ADMIN, kind="category", record={"code": root, "name": "Cards"})
    call(catalog, "create", caller=ADMIN, kind="product",
         record={"sku": sku, "name": "Gift card", "unit_price": "10.00", "category": root})
    member_id, _ = open_account(store=code)
    items = [{"sku": sku, "amount": "10.00"}]
    earned = _until_points_earns(points, member_id, code, lambda answer: answer["flags"] == [], items)
    assert earned["points_earned"] == 10

    call(catalog, "update", caller=ADMIN, kind="product", key=sku, expected_version=1,
         changes={"excluded_from_earning": True})
    excluded = _until_points_earns(points, member_id, code, lambda answer: answer["points_earned"] == 0, items)
    assert {line["rule"]: line["points"] for line in excluded["breakdown"]} == {"base": 0, f"excluded:{sku}": 0}
    assert query("points", "SELECT category, category_path, excluded_from_earning FROM catalog_products "
                           "WHERE sku = :s", s=sku)[0] == (root, [root], True)


def test_a_closed_store_is_refused_and_unknown_stores_and_skus_are_flagged(services):
    catalog, points = services
    code = _store(catalog)
    member_id, _ = open_account(store=code)
    _until_points_earns(points, member_id, code, lambda answer: answer["flags"] == [])
    _change_store(catalog, code, status="closed")

    def refused() -> bool:
        try:
            call(points, "record_sale", **sale(member_id, "10.00", store=code))
        except StoreNotOpen as error:
            assert error.field == "store" and f"store {code} is closed" in error.message
            return True
        return False
    wait_for(refused, timeout=15, interval=0.5, message="a sale at a closed store is refused")
    balance = call(points, "get_account", member_id)["balance"]
    with pytest.raises(StoreNotOpen):
        call(points, "record_sale", **sale(member_id, "10.00", store=code))
    upload = call(points, "record_batch", items=[{**sale(member_id, "10.00", store=code), "kind": "sale"}])
    assert upload["results"][0]["error"] == {"code": "store_not_open", "field": "items.0.store",
                                             "message": f"store {code} is closed: it may not record sales"}
    assert call(points, "get_account", member_id)["balance"] == balance  # nothing written

    stranger_store = _code("NEW")
    answer = call(points, "record_sale", **sale(member_id, "10.00", store=stranger_store,
                                                items=[{"sku": _code("NEW-SKU"), "amount": "10.00"}]))
    assert answer["flags"] == ["unknown_store", "unknown_sku"] and answer["points_earned"] == 10
    stored = scalar("points", "SELECT result FROM sales WHERE store = :s AND transaction_id = :t",
                    s=stranger_store, t=answer["transaction_id"])
    assert stored["flags"] == ["unknown_store", "unknown_sku"]


def test_birthdays_follow_the_zone_the_catalog_gives_the_registration_store(start_service):
    catalog, members = start_service("catalog"), start_service("members")
    code = _store(catalog, "Asia/Shanghai")
    _change_store(catalog, code, time_zone="America/New_York")  # not in STORE_TIMEZONES
    wait_for(lambda: query("members", "SELECT 1 FROM store_zones WHERE code = :c AND time_zone = :z",
                           c=code, z="America/New_York"), message="members holds the store's zone")
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    member = call(members, "register", name="Li Lei", phone=phone, channel="pos", registration_store=code,
                  birthday="1990-03-15")["member"]

    def greeted() -> list[object]:
        return query("members", "SELECT 1 FROM outbox WHERE event_type = 'member.birthday' "
                                "AND body->'payload'->>'member_id' = :m", m=member["member_id"])
    # 15 March 01:00 in Shanghai, still the 14th in New York
    call(members, "run_birthdays", at="2029-03-14T17:00:00+00:00")
    assert greeted() == []
    call(members, "run_birthdays", at="2029-03-15T17:00:00+00:00")
    assert len(greeted()) == 1


def test_a_points_process_knows_the_read_model_from_its_first_sale(start_service):
    closed, sku = _code("SHUT"), _code("CIG")
    # as the handlers left them before this process started
    execute("INSERT INTO store_zones (store_code, time_zone, status, version) VALUES (:c, 'Asia/Shanghai', "
            "'closed', 3)", c=closed)
    execute("INSERT INTO catalog_products (sku, category, category_path, excluded_from_earning, version) "
            "VALUES (:s, NULL, '[]', true, 1)", s=sku)
    points = start_service("points", outbox_relay=False)  # its refresh timer has not fired yet
    member_id, _ = open_account()
    with pytest.raises(StoreNotOpen):
        call(points, "record_sale", **sale(member_id, "10.00", store=closed))
    answer = call(points, "record_sale", **sale(member_id, "10.00", items=[{"sku": sku, "amount": "10.00"}]))
    assert answer["points_earned"] == 0 and f"excluded:{sku}" in {line["rule"] for line in answer["breakdown"]}
