"""Every list of the campaigns and coupons routes has the API's one list shape, {items,
next_cursor}, paged by `cursor`: checked in the OpenAPI document, by walking pages through a
stand-in for the service, and by refusing a cursor the list did not give out (naming `cursor`)."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.gateway.pagination import make_cursor
from tests.gateway.test_points_routes import FakeServices

SEG, CAMPAIGN, MEMBER = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
AT = "2026-12-05T10:00:00+00:00"

# (path, RPC method, a position the RPC hands out, the caller)
LISTS = [
    ("/v1/campaigns", "list_campaigns", [AT, str(uuid.uuid4())], "marketer"),
    (f"/v1/campaigns/{CAMPAIGN}/history", "campaign_history", 7, "marketer"),
    ("/v1/segments", "list_segments", [AT, str(uuid.uuid4())], "marketer"),
    ("/v1/coupons/templates", "list_templates", [AT, str(uuid.uuid4())], "marketer"),
    (f"/v1/members/{MEMBER}/coupons", "member_coupons", [AT, str(uuid.uuid4())], "marketer"),
    ("/v1/rewards", "catalog", [100, "Mug", str(uuid.uuid4())], "marketer"),
]


@pytest.fixture
def stub(client):
    real = client.app.state.services

    def install(answers: dict[tuple[str, str], Any]) -> FakeServices:
        client.app.state.services = FakeServices(answers)
        return client.app.state.services
    yield install
    client.app.state.services = real


def _list_routes(client) -> list[str]:
    """The GET routes of the campaigns and coupons routers whose answer is a list of things."""
    spec = client.get("/openapi.json").json()
    tags = {"segments and campaigns", "coupons"}
    found = []
    for path, ops in spec["paths"].items():
        get = ops.get("get")
        if not get or not tags & set(get.get("tags", [])):
            continue
        schema = get["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        if schema.get("type") == "array" or "items" in schema.get("properties", {}):
            found.append((path, schema))
    return found


def test_every_list_route_answers_items_and_next_cursor_in_the_openapi_document(client):
    lists = _list_routes(client)
    assert {p for p, _ in lists} >= {"/v1/campaigns", "/v1/campaigns/{campaign_id}/history", "/v1/segments",
                                     "/v1/segments/{segment_id}/members", "/v1/coupons/templates",
                                     "/v1/members/{member_id}/coupons", "/v1/rewards"}
    for path, schema in lists:
        assert schema.get("type") == "object", path
        assert set(schema["properties"]) == {"items", "next_cursor"}, path
        assert schema["properties"]["items"]["type"] == "array", path
    spec = client.get("/openapi.json").json()
    for path, _ in lists:
        names = {p["name"] for p in spec["paths"][path]["get"].get("parameters", [])}
        assert {"cursor", "limit"} <= names and "after" not in names, path


@pytest.mark.parametrize("path, method, pos, who", LISTS, ids=[m for _, m, _, _ in LISTS])
def test_a_list_pages_by_cursor_carrying_the_services_position(client, callers, stub, path, method, pos, who):
    services = stub({("campaigns", method): lambda kw: {"items": [], "next": None if kw.get("after") else pos}})
    first = client.get(f"{path}?limit=3", headers=callers[who])
    assert first.status_code == 200, first.text
    assert first.json()["items"] == [] and first.json()["next_cursor"]
    assert services.calls[-1][2]["limit"] == 3 and services.calls[-1][2]["after"] is None
    last = client.get(path, headers=callers[who], params={"cursor": first.json()["next_cursor"]})
    assert last.status_code == 200 and last.json() == {"items": [], "next_cursor": None}
    assert services.calls[-1][2]["after"] == pos


@pytest.mark.parametrize("path, method, pos, who", LISTS, ids=[m for _, m, _, _ in LISTS])
@pytest.mark.parametrize("bad", ["not base64 at all!", make_cursor("x"), make_cursor([1, 2, 3, 4])])
def test_a_cursor_the_list_did_not_give_out_is_422_naming_cursor(client, callers, stub, path, method, pos, who,
                                                                  bad):
    services = stub({("campaigns", method): {"items": [], "next": None}})
    response = client.get(path, headers=callers[who], params={"cursor": bad})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "cursor"
    assert services.calls == []


def test_segment_members_page_by_cursor_with_their_own_page_size(client, callers, stub):
    ids = sorted(str(uuid.uuid4()) for _ in range(3))
    services = stub({("campaigns", "export_segment"): lambda kw: (
        {"member_ids": ids[:2], "next": ids[1]} if kw["after"] is None else {"member_ids": ids[2:], "next": None})})
    first = client.get(f"/v1/segments/{SEG}/members?limit=2", headers=callers["marketer"])
    assert first.status_code == 200, first.text
    assert first.json()["items"] == ids[:2] and first.json()["next_cursor"]
    rest = client.get(f"/v1/segments/{SEG}/members", headers=callers["marketer"],
                      params={"limit": 2, "cursor": first.json()["next_cursor"]})
    assert rest.json() == {"items": ids[2:], "next_cursor": None}
    assert services.calls[-1][2]["after"] == ids[1]
    refused = client.get(f"/v1/segments/{SEG}/members", headers=callers["marketer"],
                         params={"cursor": make_cursor("not-a-member-id")})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "cursor"
