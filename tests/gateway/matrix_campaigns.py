"""The campaigns routes in the access matrix (tests/gateway/test_access_matrix.py): (test id, (method,
path, json body, who may call it)). A route that reaches its service answers 503 in that test."""
from __future__ import annotations

import uuid

Route = tuple[str, str, object, set[str]]

MANAGE = {"admin", "marketer"}
READ = {"admin", "marketer", "auditor"}
RULE = {"all": [{"field": "tier", "op": "eq", "value": "gold"}]}


def routes(member_id: str) -> list[tuple[str, Route]]:
    seg, cid, job = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    campaign = {"name": "Double points", "type": "points_multiplier", "segment_id": seg, "multiplier": "2",
                "starts_at": "2026-12-05T00:00:00Z", "ends_at": "2026-12-07T00:00:00Z"}
    return [
        ("create segment", ("POST", "/v1/segments", {"name": "Gold", "rule": RULE}, MANAGE)),
        ("list segments", ("GET", "/v1/segments", None, READ)),
        ("preview rule", ("POST", "/v1/segments/preview", {"rule": RULE}, MANAGE)),
        ("rule breakdown", ("POST", "/v1/segments/breakdown", {"rule": RULE, "by": ["abcd"]}, MANAGE)),
        ("segment breakdown", ("GET", f"/v1/segments/{seg}/breakdown?by=rfm_group&by=tier", None, READ)),
        ("get segment", ("GET", f"/v1/segments/{seg}", None, READ)),
        ("preview segment", ("GET", f"/v1/segments/{seg}/preview?sample=5", None, READ)),
        ("snapshot segment", ("POST", f"/v1/segments/{seg}/snapshots", {}, MANAGE)),
        ("export segment", ("GET", f"/v1/segments/{seg}/members?limit=10", None, MANAGE)),
        ("segment coupons", ("POST", f"/v1/segments/{seg}/coupons", {"template_id": "tpl-1"}, MANAGE)),
        ("start rfm", ("POST", "/v1/segments/rfm-jobs", {"window_days": 180}, MANAGE)),
        ("rfm job", ("GET", f"/v1/segments/rfm-jobs/{job}", None, READ)),
        ("create campaign", ("POST", "/v1/campaigns", campaign, MANAGE)),
        ("list campaigns", ("GET", "/v1/campaigns?status=running", None, READ)),
        ("get campaign", ("GET", f"/v1/campaigns/{cid}", None, READ)),
        ("campaign status", ("POST", f"/v1/campaigns/{cid}/status", {"status": "scheduled"}, MANAGE)),
        ("campaign budget", ("PUT", f"/v1/campaigns/{cid}/budget", {"coupons": 100}, MANAGE)),
        ("campaign history", ("GET", f"/v1/campaigns/{cid}/history", None, READ)),
        ("campaign results", ("GET", f"/v1/campaigns/{cid}/results", None, READ | {"manager"})),
    ]
