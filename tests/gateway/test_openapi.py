"""The OpenAPI document is what POS and ERP vendors and SDK generators code against: every operation
has a stable snake_case operationId, a description, the headers the gateway honours, only the error
statuses it can give, and examples that the API itself would accept."""
from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import TypeAdapter

from services.gateway.api_routes import ApiRoute, api_routes
from services.gateway.security.guard import honours_idempotency


@pytest.fixture(scope="module")
def doc(client) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def _operations(client, doc) -> list[tuple[ApiRoute, dict[str, Any]]]:
    return [(api, doc["paths"][api.path][api.method.lower()]) for api in api_routes(client.app)]


def test_operation_ids_are_the_route_names_snake_case_and_unique(client, doc):
    ids = [op["operationId"] for _, op in _operations(client, doc)]
    assert len(ids) == len(set(ids)) > 80
    for api, op in _operations(client, doc):
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", op["operationId"]), op["operationId"]
        assert op["operationId"] == api.name
    assert next(op for api, op in _operations(client, doc) if api.path == "/v1/points/sales")["operationId"] \
        == "record_sale"


def test_every_operation_has_a_description_saying_who_may_call(client, doc):
    for _, op in _operations(client, doc):
        assert op.get("summary") and op.get("description"), op["operationId"]
        assert "Who may call:" in op["description"], op["operationId"]


def test_headers_are_declared_where_the_gateway_honours_them(client, doc):
    for api, op in _operations(client, doc):
        headers = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        assert "X-Request-ID" in headers, op["operationId"]
        assert ("Idempotency-Key" in headers) == honours_idempotency(api.method, api.path), op["operationId"]
        for status, answer in op["responses"].items():
            assert "X-Request-ID" in answer.get("headers", {}), (op["operationId"], status)
            if status in ("429", "503"):
                assert "Retry-After" in answer["headers"], (op["operationId"], status)


def _errors(op: dict[str, Any]) -> set[int]:
    return {int(s) for s in op["responses"] if int(s) >= 400}


def test_error_statuses_are_those_the_route_can_give(client, doc):
    ops = {(api.method, api.path): op for api, op in _operations(client, doc)}
    assert _errors(ops["GET", "/healthz"]) == {500}
    assert _errors(ops["GET", "/v1/audit"]) == {400, 401, 403, 422, 429, 500, 503}  # gateway-only, no body
    sale = _errors(ops["POST", "/v1/points/sales"])
    assert {400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 504} <= sale
    assert 409 not in _errors(ops["GET", "/v1/members"]) and 415 not in _errors(ops["GET", "/v1/members"])
    assert 428 in _errors(ops["PATCH", "/v1/members/{member_id}"])  # declared by the route itself
    assert len({frozenset(_errors(op)) for op in ops.values()}) >= 8  # not one list pasted everywhere
    for (_, path), op in ops.items():
        for status in _errors(op) - ({503} if path == "/readyz" else set()):  # readiness says which check failed
            schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, op["operationId"]


def _example(content: dict[str, Any]) -> Any:
    return content.get("example", next(iter(content.get("examples", {}).values()), {}).get("value"))


def test_every_request_and_answer_has_an_example_the_api_accepts(client, doc):
    for api, op in _operations(client, doc):
        for media, body in op.get("requestBody", {}).get("content", {}).items():
            example = _example(body)
            assert example is not None, (op["operationId"], media)
            if media == "application/json" and api.route.body_field is not None:
                TypeAdapter(api.route.body_field.field_info.annotation).validate_python(example)
        for status, answer in op["responses"].items():
            for media, body in answer.get("content", {}).items():
                example = _example(body)
                assert example is not None, (op["operationId"], status, media)
                if status.startswith("2") and api.route.response_field is not None:
                    TypeAdapter(api.route.response_field.field_info.annotation).validate_python(example)


def test_the_import_declares_its_file_body(doc):
    body = doc["paths"]["/v1/members/imports"]["post"]["requestBody"]["content"]
    assert set(body) == {"text/csv", "application/json", "application/x-ndjson"}
    assert body["application/json"]["schema"]["type"] == "array"
    assert body["text/csv"]["example"].startswith("external_id,name,phone")


def test_money_in_request_bodies_is_a_decimal_string(client, doc):
    money = {"amount", "discount", "min_spend", "max_discount", "gift_value", "budget_value", "money"}
    found = 0

    def walk(schema: dict[str, Any], seen: set[str]) -> None:
        nonlocal found
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                walk(doc["components"]["schemas"][name], seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for option in schema.get(key, []):
                walk(option, seen)
        if "items" in schema:
            walk(schema["items"], seen)
        for prop, sub in schema.get("properties", {}).items():
            if prop in money:
                options = sub.get("anyOf", [sub])
                assert all(o.get("type") in ("string", "null") for o in options), (prop, sub)
                found += 1
            walk(sub, seen)

    for _, op in _operations(client, doc):
        schema = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if schema:
            walk(schema, set())
    assert found >= 10

