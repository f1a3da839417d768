"""End to end: the change feed through the gateway of a platform started as `make run` starts it. An
ERP key that was away reads from its cursor what happened meanwhile (a registration, a sale), with a
type filter; a webhook it subscribed gets the same changes signed; after the member's erasure the
feed no longer holds their member number."""
from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.platform_fixture import running_platform
from tests.helpers import wait_for
from tests.service.feed_support import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("feed")
    with running_platform(var, "feed", FEED_WEBHOOK_POLL_SECONDS="0.2") as running:
        password = (var / "secrets" / "admin-password").read_text().strip()
        token = httpx.post(running["base"] + "/v1/auth/token", data={"username": "admin", "password": password}
                           ).json()["access_token"]
        with httpx.Client(base_url=running["base"], timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            key = http.post("/v1/api-keys", json={"name": "e2e ERP", "kind": "erp"}).json()["key"]
            with httpx.Client(base_url=running["base"], timeout=30, headers={"X-API-Key": key}) as erp:
                yield {**running, "http": http, "erp": erp}


def _read(erp: httpx.Client, after: str | None, **params: Any) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    while True:
        answer = erp.get("/v1/feed", params={"limit": 50, **({"after": after} if after else {}), **params})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items, after = items + page["items"], page["next_cursor"]
        if not page["has_more"]:
            return items, after


def test_an_erp_away_resumes_from_its_cursor_and_its_webhook_gets_the_same_changes_signed(platform):
    http, erp = platform["http"], platform["erp"]
    _, cursor = _read(erp, None)  # where the ERP stopped reading before it went away
    receiver = Receiver()
    try:
        hook = erp.post("/v1/webhooks", json={"url": receiver.url, "types": ["member.registered", "points.accrued"]})
        assert hook.status_code == 201, hook.text
        receiver.secret = hook.json()["secret"]
        phone = f"139{uuid.uuid4().int % 10**8:08d}"
        created = http.post("/v1/members", json={"name": "Feed Reader", "phone": phone, "registration_store": "SH-001"})
        assert created.status_code == 201, created.text
        member_id = created.json()["member"]["member_id"]
        sale = {"store": "SH-001", "terminal": "T1", "transaction_id": f"F-{uuid.uuid4().hex[:10]}",
                "member_id": member_id, "amount": "128.00", "sold_at": "2026-11-23T10:30:00+08:00",
                "items": [{"sku": "MILK-1L", "category": "dairy", "amount": "128.00"}]}
        wait_for(lambda: http.post("/v1/points/sales", json=sale).status_code in (200, 201), timeout=30,
                 message="the sale (once points opened the account)")

        def mine(items: list[dict[str, Any]]) -> list[str]:
            return [i["type"] for i in items if i["member_id"] == member_id]

        items = wait_for(lambda: (found := _read(erp, cursor)[0]) and "points.accrued" in mine(found) and found,
                         timeout=30, message="the registration and the sale in the feed")
        assert mine(items) == ["member.registered", "points.accrued"]
        accrued = next(i for i in items if i["type"] == "points.accrued" and i["member_id"] == member_id)
        assert accrued["data"]["points"] > 0 and accrued["data"]["store"] == "SH-001"
        only, _ = _read(erp, cursor, types="points.accrued")
        assert {i["type"] for i in only} == {"points.accrued"} and accrued["event_id"] in {i["event_id"] for i in only}
        wait_for(lambda: mine(receiver.items()) == ["member.registered", "points.accrued"], timeout=30,
                 message="both changes delivered to the webhook, signed, in order")
        assert receiver.refused_signatures == 0
        assert http.post(f"/v1/members/{member_id}/erase").status_code == 200

        def blanked() -> bool:
            rows = [i for i in _read(erp, cursor)[0] if i["member_id"] == member_id]
            return any(i["type"] == "member.erased" for i in rows) and all(
                i["data"]["member_number"] is None for i in rows if i["type"] == "member.registered")

        wait_for(blanked, timeout=30, message="the member number gone from the feed after erasure")
        assert erp.delete(f"/v1/webhooks/{hook.json()['id']}").status_code == 204
    finally:
        receiver.stop()
