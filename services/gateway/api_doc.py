"""The OpenAPI document as vendors and SDK generators need it, completed from what routes declare:

- operationIds are the route functions' names (``record_sale``), set by ``operation_id`` below;
- every operation has a description, ending with who may call it (from its ``allow(...)``);
- ``X-Request-ID`` is declared on every operation and answer, ``Idempotency-Key`` on the POSTs the
  guard replays;
- error statuses are the ones the route can give, computed from its metadata: credentials
  (400/401/403), a body (400/413/415/422), parameters (422), path ids (404), Idempotency-Key
  (409), rate limits (429), services behind it (404/409/422 from their typed errors, 503/504);
- every request body and answer has an example: written ones from ``api_examples`` (keyed by
  operationId), otherwise built from the schema (field examples, formats, enums, defaults).
"""
from __future__ import annotations

import copy
import re
import types
from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi

from services.gateway import api_examples
from services.gateway.api_routes import ApiRoute, api_routes
from services.gateway.errors import ErrorBody
from services.gateway.security.guard import honours_idempotency

_ERROR = {"$ref": "#/components/schemas/ErrorBody"}
_ERROR_TEXT = {  # status: (description, code, the message the gateway gives)
    400: ("Malformed request: a body that is not JSON, or both kinds of credentials", "invalid_json",
          "the body is not valid JSON: Expecting value at offset 0"),
    401: ("No credentials, or credentials that are invalid, expired or revoked", "unauthenticated",
          "credentials required: a bearer token or an X-API-Key"),
    403: ("Authenticated, but not allowed (role, key scope, store or member); audited", "forbidden",
          "this route is not open to your role or key scopes"),
    404: ("Not found; `field` names the id", "not_found", "not found"),
    409: ("Conflict: Idempotency-Key reused with another body or still in progress, or a duplicate",
          "idempotency_key_reused", "this Idempotency-Key was used with a different request"),
    413: ("Body too large (MAX_BODY_BYTES)", "payload_too_large", "body larger than 1048576 bytes"),
    415: ("Body is not application/json", "unsupported_media_type", "send the body as application/json"),
    422: ("A field is missing or malformed; `field` names it", "invalid_input", "Field required"),
    423: ("Account locked after too many failed logins", "account_locked", "too many failed logins; try again later"),
    428: ("If-Match is required", "precondition_required", "send If-Match with the member's version (its ETag)"),
    429: ("Rate limited; retry after Retry-After seconds", "rate_limited", "too many requests; slow down"),
    500: ("Internal error; quote request_id", "internal_error", "internal error"),
    503: ("A service, the broker or the database is unavailable; retry after Retry-After seconds",
          "service_unavailable", "broker unreachable"),
    504: ("A service did not answer in time; the request may or may not have taken effect: retry with "
          "the same Idempotency-Key", "upstream_timeout", "no answer within 5 s"),
}
_RETRY_AFTER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
_REQUEST_ID_PARAM = {"name": "X-Request-ID", "in": "header", "required": False,
                     "description": "Your id for this request (up to 128 of A-Z a-z 0-9 . _ -); echoed in the "
                                    "answer and in error bodies; absent or not of that form, one is generated",
                     "schema": {"type": "string"}, "example": "pos-sh001-3-000123"}
_IDEMPOTENCY_PARAM = {"name": "Idempotency-Key", "in": "header", "required": False,
                      "description": "Send the same key when retrying: the first answer is replayed (with "
                                     "`Idempotent-Replayed: true`) for 48 hours; the same key with another body "
                                     "is a 409. The body is compared as parsed JSON (key order does not matter).",
                      "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:\\-]{1,255}$"},
                      "example": "sale-SH-001-20261201-000123"}
_OPERATIONS = ("/healthz", "/readyz")  # never rate limited, no credentials


def operation_id(route: routing.APIRoute) -> str:
    """Stable operationIds: the route function's name (unique across the API; a test checks)."""
    return route.name


def _calls_services(fn: Any) -> bool:
    """Whether a route function reaches a service over RPC: it (or a module-level helper or closure
    it uses) touches ``services``. Read from the code objects, so no route has to say so."""
    module_globals = getattr(fn, "__globals__", {})
    package = getattr(fn, "__module__", "").rpartition(".")[0]  # helpers of the route's own package too
    seen: set[int] = set()

    def reaches(code: types.CodeType) -> bool:
        if id(code) in seen:
            return False
        seen.add(id(code))
        if "services" in code.co_names:
            return True
        helpers = [module_globals[n].__code__ for n in code.co_names
                   if str(getattr(module_globals.get(n), "__module__", "")).rpartition(".")[0] == package
                   and hasattr(module_globals[n], "__code__")]
        nested = [c for c in code.co_consts if isinstance(c, types.CodeType)]
        return any(reaches(c) for c in helpers + nested)

    return hasattr(fn, "__code__") and reaches(fn.__code__)


def error_statuses(api: ApiRoute, operation: dict[str, Any]) -> set[int]:
    """The error statuses this route can answer, from what it declares."""
    statuses = {500}
    params = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
    has_body = "requestBody" in operation or api.route.body_field is not None
    if not api.path.startswith(_OPERATIONS):
        statuses |= {429, 503}
    if api.access is not None:
        statuses |= {400, 401, 403}  # 400: a bearer token and an X-API-Key at once
    if has_body:
        statuses |= {400, 413, 415, 422}
    if params:
        statuses.add(422)
    if any(p["in"] == "path" for p in params):
        statuses.add(404)
    if honours_idempotency(api.method, api.path):
        statuses.add(409)
    if _calls_services(api.route.endpoint):  # typed errors: InvalidInput 422, NotFound 404, Conflict 409
        statuses |= {422, 503, 504}
        if api.method != "GET":
            statuses |= {404, 409}
        elif any(p["in"] == "path" for p in params):
            statuses.add(404)
    statuses |= {int(s) for s in (api.route.responses or {}) if str(s).isdigit() and int(s) >= 400}
    return statuses


def _error_answer(status: int, declared: dict[str, Any] | None, field: str | None) -> dict[str, Any]:
    description, code, message = _ERROR_TEXT.get(status, ("Error", "error", "error"))
    if status == 409 and field is None:
        field = "Idempotency-Key"
    example = {"error": {"code": code, "message": message, **({"field": field} if field else {}),
                         "request_id": "4bf92f3577b34da6a3ce929d0e0e4736"}}
    answer: dict[str, Any] = {
        "description": (declared or {}).get("description") or description,
        "headers": {"X-Request-ID": {"$ref": "#/components/headers/X-Request-ID"}},
        "content": {"application/json": {"schema": _ERROR, "example": example}},
    }
    if status in (429, 503):
        answer["headers"]["Retry-After"] = _RETRY_AFTER
    return answer


# ---- examples built from schemas ------------------------------------------------------------------------
_BY_NAME = {
    "phone": "+8613900001111", "member_phone": "+8613900001111", "store": "SH-001", "registration_store": "SH-001",
    "currency": "CNY", "email": "zhang.san@example.com", "name": "Zhang San", "member_number": "800000001233",
    "transaction_id": "T-20261201-000123", "refund_id": "R-20261201-000007", "terminal": "till-3",
    "username": "li.clerk", "password": "at least twelve chars", "locale": "zh-CN", "channel": "sms",
    "source": "pos", "text_version": "2026-11", "code": "LOYAL-7Q2X", "key": "birthday", "sku": "SKU-10023",
}
# decimals travel as strings with no format in the schema; these names are decimals in the contracts
_DECIMALS = {"amount": "128.50", "discount": "10.00", "amount_due": "118.50", "value": "12.00", "money": "5000.00",
             "attributed_sales": "38200.00", "cost": "1200.00", "issued_value": "2000.00", "max_discount": "50.00",
             "min_spend": "100.00", "gift_value": "0.00", "budget_value": "10000.00", "money_budget": "5000.00",
             "point_value": "0.01", "multiplier": "2", "threshold": "2000", "percent": "10", "qty": "1",
             "conversion": "0.12", "control_conversion": "0.08", "lift": "0.04", "relative_lift": "0.5",
             "control_share": "0.10", "qualifying": "1520.00", "needed": "480.00",
             "net_amount": "118.50", "refunded_amount": "0.00", "members_share": "0.35", "total_sales": "3400.00"}
_BY_FORMAT = {"date-time": "2026-12-01T10:15:00Z", "date": "2026-12-01", "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
              "email": "zhang.san@example.com", "uri": "https://example.com/hook", "password": "at least twelve chars",
              "binary": "", "duration": "PT15M"}


def example_of(schema: dict[str, Any], doc: dict[str, Any], name: str = "", depth: int = 0) -> Any:
    """A plausible value for a JSON Schema: its own example, else built from name, format and type."""
    if depth > 8:
        return None
    while "$ref" in schema:
        schema = {**doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]],
                  **{k: v for k, v in schema.items() if k != "$ref"}}
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return example_of({**options[0], **{k: v for k, v in schema.items() if k not in (key, "default")}},
                              doc, name, depth + 1)
    if "allOf" in schema:
        return example_of(schema["allOf"][0], doc, name, depth + 1)
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return {prop: example_of(sub, doc, prop, depth + 1) for prop, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [example_of(schema.get("items", {}), doc, name.rstrip("s"), depth + 1)]
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "string":
        value = _string_example(schema, name)
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, value):  # a name-based guess the field's pattern refuses
            value = next((c for c in _PATTERN_TRIES if re.search(pattern, c)), value)
        return value
    return None


_PATTERN_TRIES = ("normal", "SH-001", "CNY", "482913", "abc", "1")
_LATER = {"ends_at", "expires_at", "valid_until", "valid_to", "until"}


def _string_example(schema: dict[str, Any], name: str) -> str:
    if name in _LATER:
        return "2026-12-31T16:00:00Z"
    if schema.get("format") in _BY_FORMAT:
        return _BY_FORMAT[schema["format"]]
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name in _DECIMALS:
        return _DECIMALS[name]
    if name.endswith("_id") or name == "id":
        return _BY_FORMAT["uuid"]
    if name.endswith("_at"):
        return _BY_FORMAT["date-time"]
    return name.replace("_", "-") or "text"


# ---- the document ---------------------------------------------------------------------------------------
def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _set_example(content: dict[str, Any], written: Any, doc: dict[str, Any]) -> None:
    for media, body in content.items():
        if "example" in body or "examples" in body:
            continue
        if written is not None:
            body["example"] = written
        elif media.endswith("json") and "schema" in body:
            body["example"] = example_of(body["schema"], doc)


def _complete(doc: dict[str, Any], api: ApiRoute) -> None:
    operation = doc["paths"][api.path][api.method.lower()]
    access = api.access.describe() if api.access else "Who may call: anyone; no credentials needed."
    lead = operation.get("description") or (operation.get("summary", "").rstrip(".") + ".")
    operation["description"] = f"{lead}\n\n{access}"
    parameters = [p for p in operation.get("parameters", []) if p["name"] not in ("X-Request-ID", "Idempotency-Key")]
    if honours_idempotency(api.method, api.path):
        parameters.append(_IDEMPOTENCY_PARAM)
    parameters.append(_REQUEST_ID_PARAM)
    operation["parameters"] = parameters

    written = api_examples.EXAMPLES.get(operation["operationId"], {})
    if "requestBody" in operation:
        _set_example(operation["requestBody"]["content"], written.get("request"), doc)

    declared = {int(k): v for k, v in operation.get("responses", {}).items() if k.isdigit()}
    statuses = error_statuses(api, operation)
    responses: dict[str, Any] = {}
    main = declared.get(api.route.status_code or 200, {})
    for status, answer in sorted(declared.items()):
        if status >= 400:
            continue
        answer = copy.deepcopy(answer)
        if status < 300 and "content" not in answer and "content" in main:  # e.g. 200 for a replayed 201
            answer["content"] = copy.deepcopy(main["content"])
        answer.setdefault("headers", {})["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
        if honours_idempotency(api.method, api.path):
            answer["headers"]["Idempotent-Replayed"] = {
                "description": "`true` when this is the stored answer to an earlier request with the same "
                               "Idempotency-Key", "schema": {"type": "string", "enum": ["true"]}}
        if "content" in answer:
            _set_example(answer["content"], written.get("response") if status < 300 else None, doc)
        responses[str(status)] = answer
    params = [p["name"] for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    required = _resolve(doc, body).get("required", []) if body else []
    fields = {404: next((p["name"] for p in operation.get("parameters", []) if p["in"] == "path"), None),
              422: (required or params or [None])[0]}
    for status in sorted(statuses):
        answer = _error_answer(status, declared.get(status) if status != 422 else None, fields.get(status))
        if status == 422 and not required:
            answer["content"]["application/json"]["example"]["error"]["message"] = "Input should be a valid value"
        if status != 422 and "content" in declared.get(status, {}):  # the route gave this status its own body
            answer["content"] = declared[status]["content"]
            _set_example(answer["content"], written.get(str(status)), doc)
        responses[str(status)] = answer
    operation["responses"] = responses


def build(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                      description=app.description, routes=app.routes, tags=app.openapi_tags, servers=app.servers)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorBody"] = error_schema
    components["headers"] = {"X-Request-ID": {
        "description": "The request's id (yours, or one generated): quote it when reporting a problem",
        "schema": {"type": "string"}}}
    for api in api_routes(app):
        _complete(doc, api)
    for unused in ("HTTPValidationError", "ValidationError"):  # our 422 body is ErrorBody
        schemas.pop(unused, None)
    return doc


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first use)."""
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it

