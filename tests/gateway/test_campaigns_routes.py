"""The segments and campaigns routes in front of the service: bodies refused with the field named
(no service runs behind this gateway, so a body that passes answers 503)."""
from __future__ import annotations

import uuid

import pytest

SEG = str(uuid.uuid4())
CAMPAIGN = {"name": "Double points", "type": "points_multiplier", "segment_id": SEG, "multiplier": "2",
            "starts_at": "2026-12-05T00:00:00Z", "ends_at": "2026-12-07T00:00:00Z"}
BAD = [
    ("POST", "/v1/segments", {"name": "", "rule": {}}, "name"),
    ("POST", "/v1/segments", {"name": "x"}, "rule"),
    ("POST", "/v1/segments", {"name": "x", "rule": {}, "colour": "red"}, "colour"),
    ("POST", "/v1/segments/preview", {"rule": {}, "sample": 1000}, "sample"),
    ("GET", "/v1/segments/not-a-uuid", None, "segment_id"),
    ("GET", f"/v1/segments/{SEG}/members?limit=0", None, "limit"),
    ("POST", f"/v1/segments/{SEG}/coupons", {}, "template_id"),
    ("POST", "/v1/segments/rfm-jobs", {"window_days": 0}, "window_days"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "type": "lottery"}, "type"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "control_share": "1"}, "control_share"),
    ("POST", "/v1/campaigns", {**CAMPAIGN, "budget": {"money": "-1"}}, "budget.money"),
    ("POST", f"/v1/campaigns/{SEG}/status", {"status": "launched"}, "status"),
    ("PUT", f"/v1/campaigns/{SEG}/budget", {"points": -1}, "points"),
    ("GET", "/v1/campaigns?status=everything", None, "status"),
]


@pytest.mark.parametrize("method, path, body, field", BAD, ids=[f"{m} {p[4:40]} {f}" for m, p, _, f in BAD])
def test_bad_input_is_422_naming_the_field(client, callers, method, path, body, field):
    response = client.request(method, path, headers=callers["marketer"], json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field, response.json()


def test_a_good_body_reaches_the_service(client, callers):
    assert client.post("/v1/campaigns", headers=callers["marketer"], json=CAMPAIGN).status_code == 503
    assert client.post("/v1/segments/preview", headers=callers["marketer"],
                       json={"rule": {"field": "tier", "op": "eq", "value": "gold"}}).status_code == 503
