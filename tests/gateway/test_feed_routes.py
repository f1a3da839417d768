"""The feed and webhook routes in front of the feed service: admins and ERP keys only, the types list
and cursor relayed, a cursor past the retention answered 410, subscriptions audited, deliveries paged
(a stand-in answers for the service; the service itself: tests/service/test_feed*.py)."""
from __future__ import annotations

import uuid

import pytest

from services.gateway.routes_feed_examples import FEED_EXAMPLES
from services.gateway.rpc import RemoteError
from tests.gateway.conftest import audit_count
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

PAGE = FEED_EXAMPLES["read_feed"]["response"]
HOOK = FEED_EXAMPLES["get_webhook"]["response"]


@pytest.mark.parametrize("who,allowed", [("admin", True), ("erp", True), ("manager", False), ("auditor", False),
                                         ("clerk", False), ("pos", False), ("member", False), ("anonymous", False)])
def test_admins_and_erp_keys_read_the_feed(client, callers, fake, who, allowed):  # noqa: F811
    services = fake({("feed", "read"): PAGE})
    response = client.get("/v1/feed?after=f1.MTIzNDQ&types=points.accrued,%20tier.changed&limit=500",
                          headers=callers[who])
    assert response.status_code == (200 if allowed else 401 if who == "anonymous" else 403), response.text
    if allowed:
        assert response.json() == PAGE
        assert services.calls == [("feed", "read", {"after": "f1.MTIzNDQ", "types": ["points.accrued", "tier.changed"],
                                                    "limit": 500})]
    else:
        assert services.calls == []


def test_a_cursor_past_the_retention_is_410_and_bad_paging_names_the_field(client, callers, fake):  # noqa: F811
    fake({("feed", "read"): RemoteError("Gone", "events after this cursor were deleted", "after")})
    gone = client.get("/v1/feed?after=f1.MQ", headers=callers["erp"])
    assert gone.status_code == 410 and gone.json()["error"]["field"] == "after"
    for query, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("after=a&cursor=b", "after")):
        refused = client.get(f"/v1/feed?{query}", headers=callers["erp"])
        assert refused.status_code == 422 and refused.json()["error"]["field"].endswith(field), refused.text


def test_subscriptions_are_audited_and_their_dead_letters_paged(client, callers, fake, engine):  # noqa: F811
    created = {**HOOK, "secret": "whsec_x"}
    dead = [{**FEED_EXAMPLES["list_webhook_deliveries"]["response"]["items"][0], "id": n} for n in (9, 8, 7)]
    services = fake({("feed", "create_webhook"): created, ("feed", "deliveries"): lambda kw: dead[:kw["limit"]],
                     ("feed", "replay"): HOOK, ("feed", "delete_webhook"): {"deleted": True}})
    before = audit_count(engine, "webhook.created")
    response = client.post("/v1/webhooks", headers=callers["admin"],
                           json={"url": "https://erp.example.com/hooks", "types": ["points.accrued"]})
    assert response.status_code == 201 and response.json()["secret"] == "whsec_x"
    assert audit_count(engine, "webhook.created") == before + 1
    hook = HOOK["id"]
    first = client.get(f"/v1/webhooks/{hook}/deliveries?status=dead&limit=2", headers=callers["erp"]).json()
    assert [d["id"] for d in first["items"]] == [9, 8] and first["next_cursor"]
    assert services.calls[-1][2] == {"webhook_id": hook, "status": "dead", "after": None, "limit": 3}
    client.get(f"/v1/webhooks/{hook}/deliveries?status=dead&limit=2&cursor={first['next_cursor']}",
               headers=callers["erp"])
    assert services.calls[-1][2]["after"] == 8
    assert client.post(f"/v1/webhooks/{hook}/replay", headers=callers["admin"],
                       json={"after": "f1.MTIzNDQ"}).status_code == 200
    assert services.calls[-1] == ("feed", "replay", {"webhook_id": hook, "after": "f1.MTIzNDQ"})
    assert client.delete(f"/v1/webhooks/{hook}", headers=callers["admin"]).status_code == 204
    assert client.get(f"/v1/webhooks/{uuid.uuid4()}/deliveries?status=gone", headers=callers["admin"]).status_code \
        == 422
    assert client.post("/v1/webhooks", headers=callers["pos"],
                       json={"url": "https://x.example", "types": ["points.accrued"]}).status_code == 403
