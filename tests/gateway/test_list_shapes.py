"""One list shape everywhere: ``{"items": [...], "next_cursor": ...}``, paged with ``limit`` and
``cursor``, checked for every list route from the OpenAPI document, and walked page by page."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.gateway.test_notify_routes import _message
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

# Lists other helpers' routes still answer as bare arrays (or page with `next`): the lead empties
# this once their branches are merged, and the test then holds every list route to the one shape.
NOT_YET_PAGED: set[tuple[str, str]] = set()  # every list is paged now


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _list_shape_problem(doc: dict[str, Any], operation: dict[str, Any]) -> str | None:
    ok = next((answer for status, answer in operation["responses"].items() if status.startswith("2")), None)
    schema = (ok or {}).get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    schema = _resolve(doc, schema)
    if schema.get("type") == "array":
        return "a bare array"
    properties = schema.get("properties", {})
    if not {"items", "next", "next_cursor"} & set(properties):
        return None  # not a list
    if _resolve(doc, properties.get("items", {})).get("type") != "array" or "next_cursor" not in properties:
        return f"a list answered as {sorted(properties)}, not items and next_cursor"
    return None


def _is_paged(operation: dict[str, Any]) -> bool:
    names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    return {"limit", "cursor"} <= names


def test_every_list_route_answers_items_and_next_cursor(client):
    doc = client.get("/openapi.json").json()
    wrong, unpaged, lists = [], [], 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            problem = _list_shape_problem(doc, operation)
            if (method, path) in NOT_YET_PAGED:
                assert problem is not None, f"{method} {path} is paged now: take it off NOT_YET_PAGED"
                continue
            if problem:
                wrong.append(f"{method.upper()} {path}: {problem}")
                continue
            schema = _resolve(doc, operation["responses"].get("200", {}).get("content", {})
                              .get("application/json", {}).get("schema", {}))
            if "next_cursor" in schema.get("properties", {}):
                lists += 1
                if not _is_paged(operation):
                    unpaged.append(f"{method.upper()} {path}")
    assert not wrong, wrong
    assert not unpaged, f"lists without limit and cursor: {unpaged}"
    assert lists >= 10


def _times(n: int) -> list[str]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [(start - timedelta(minutes=i)).isoformat() for i in range(n)]  # newest first


def test_message_lists_walk_every_message_once(client, callers, fake):  # noqa: F811
    everything = [_message(created_at=t) for t in _times(7)]

    def messages(kw: dict[str, Any]) -> list[dict[str, Any]]:
        before = datetime.fromisoformat(kw["before"]) if kw.get("before") else None
        rows = [m for m in everything if before is None or datetime.fromisoformat(m["created_at"]) < before]
        return rows[:kw["limit"]]

    fake({("notify", "messages"): messages,
          ("notify", "dead_letters"): lambda kw: {"depth": 7, "items": messages(kw)}})
    for path in ("/v1/notify/messages", f"/v1/members/{callers['member_id']['id']}/messages",
                 "/v1/notify/dead-letters"):
        seen, cursor = [], None
        for _ in range(10):
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            answer = client.get(path, headers=callers["admin"], params=params)
            assert answer.status_code == 200, answer.text
            seen += [m["message_id"] for m in answer.json()["items"]]
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == [m["message_id"] for m in everything], path


def test_lists_answered_whole_by_a_service_are_paged(client, callers, fake):  # noqa: F811
    member = str(uuid.uuid4())
    consents = [{"member_id": member, "channel": c, "granted": True, "text_version": "1", "source": "pos",
                 "changed_at": "2026-11-01T00:00:00+00:00"} for c in ("sms", "email", "push", "marketing")]
    templates = [{"key": f"k{i}", "channel": "sms", "locale": "en", "subject": None, "body": "x",
                  "version": 1, "variables": [], "updated_at": "2026-11-01T00:00:00+00:00", "updated_by": "a"}
                 for i in range(5)]
    fake({("members", "consents"): consents, ("notify", "list_templates"): templates})
    for path, expected in ((f"/v1/members/{member}/consents", 4), ("/v1/notify/templates", 5)):
        items, cursor = [], None
        for _ in range(10):
            answer = client.get(path, headers=callers["admin"], params={"limit": 2, **({"cursor": cursor} if cursor
                                                                                       else {})})
            assert answer.status_code == 200, answer.text
            items += answer.json()["items"]
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                break
        assert len(items) == expected, path
