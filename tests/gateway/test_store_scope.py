"""A store-bound caller naming another store in ``?store=`` gets 403 on every route that takes it
(found from the OpenAPI document, so a new list route is covered the day it is added)."""
from __future__ import annotations

import uuid
from typing import Any

STORE_BOUND = ("clerk", "manager", "pos")  # bound to SH-001 in the fixtures
SAMPLE = {"date": "2026-12-01", "date-time": "2026-12-01T00:00:00Z", "uuid": str(uuid.uuid4())}


def _sample(schema: dict[str, Any]) -> str:
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("format") in SAMPLE:
            return SAMPLE[option["format"]]
        if option.get("type") == "integer":
            return "1"
        if "enum" in option:
            return str(option["enum"][0])
    return str(uuid.uuid4())


def _store_filtered_routes(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, str], dict[str, str]]]:
    found = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            params = op.get("parameters", [])
            if not any(p["in"] == "query" and p["name"] == "store" for p in params):
                continue
            path_values = {p["name"]: _sample(p["schema"]) for p in params if p["in"] == "path"}
            required = {p["name"]: _sample(p["schema"]) for p in params
                        if p["in"] == "query" and p.get("required") and p["name"] != "store"}
            found.append((method, path.format(**path_values), required, path_values))
    return found


def test_another_store_in_a_store_filter_is_403_on_every_route(client, callers):
    routes = _store_filtered_routes(client.get("/openapi.json").json())
    assert any(path == "/v1/members" for _, path, _, _ in routes)
    checked = 0
    for method, path, query, _ in routes:
        for caller in STORE_BOUND:
            own = client.request(method, path, headers=callers[caller], params={**query, "store": "SH-001"})
            if own.status_code in (401, 403):
                continue  # the route is not open to this caller at all
            other = client.request(method, path, headers=callers[caller], params={**query, "store": "BJ-009"})
            assert other.status_code == 403, (method, path, caller, other.text)
            assert other.json()["error"]["field"] == "store"
            checked += 1
    assert checked >= 2
