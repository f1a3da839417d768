"""The gateway's HTTP behaviour that needs no running service (the broker is unreachable here)."""
from __future__ import annotations

import re
from dataclasses import replace

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from services.gateway.errors import remote_error_status
from services.gateway.rpc import RemoteError, parse_remote_error
from tests.gateway.conftest import unique
from tests.helpers import wait_for


def test_health_is_up_but_not_ready_without_broker(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] == "unreachable"


def _backends(engine: sa.Engine, application_name: str, condition: str = "true") -> int:
    """How many connections to the database carry this application name (and meet the condition)."""
    with engine.connect() as conn:  # a new connection each time: pg_stat_activity is a snapshot per transaction
        return int(conn.execute(sa.text(
            f"SELECT count(*) FILTER (WHERE {condition}) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = :n"),
            {"n": application_name}).scalar())


def test_readiness_notices_a_database_connection_that_died_moments_ago(settings, engine):
    # an app of its own, its database connections named so only they are killed; not started (no
    # lifespan), so no sealer shares its pool and the readiness check is the first to use the dead connection
    name = unique("readyz")
    url = sa.engine.make_url(settings.database_url).update_query_dict({"application_name": name})
    app = create_app(replace(settings, database_url=url.render_as_string(hide_password=False)))
    try:
        ready = TestClient(app, raise_server_exceptions=False)
        assert ready.get("/readyz").json()["checks"]["database"] == "ok"  # leaves a pooled connection, just used
        assert _backends(engine, name, "pg_terminate_backend(pid)") == 1
        wait_for(lambda: _backends(engine, name) == 0, timeout=5, interval=0.05, message="backend gone")
        down = ready.get("/readyz")
        assert down.status_code == 503 and down.json()["checks"]["database"] != "ok"
        assert ready.get("/readyz").json()["checks"]["database"] == "ok"  # a fresh connection next time
    finally:
        app.state.db.dispose()


def test_broker_unreachable_is_503_with_the_error_body(client, callers):
    response = client.post("/v1/members", headers=callers["admin"], json={"name": "A", "phone": "13800000000"})
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert error["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("body, field", [
    ({"phone": "13800000000"}, "name"),
    ({"name": "A"}, "phone"),
    ({"name": "", "phone": "13800000000"}, "name"),
    ({"name": "A", "phone": "13800000000", "is_admin": True}, "is_admin"),
    ({"name": "A", "phone": "13800000000", "channel": "carrier-pigeon"}, "channel"),
])
def test_shape_errors_are_422_naming_the_field(client, callers, body, field):
    response = client.post("/v1/members", headers=callers["admin"], json=body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize("method, path, body, field", [
    ("GET", "/v1/members?registered_from=0001-01-01T00:00:00%2B01:00", None, "registered_from"),
    ("GET", "/v1/members?registered_to=9999-12-31T23:00:00-05:00", None, "registered_to"),
    ("POST", "/v1/members/bulk-tags", {"registered_from": "0001-01-01T00:00:00+01:00", "add": ["x"]},
     "registered_from"),
    ("GET", "/v1/audit?since=0001-01-01T00:00:00%2B01:00", None, "since"),
    ("GET", "/v1/audit?until=0001-01-01T00:00:00%2B01:00", None, "until"),
])
def test_query_times_with_no_utc_equivalent_are_422_naming_the_field(client, callers, method, path, body, field):
    response = client.request(method, path, headers=callers["admin"], json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def test_malformed_json_is_400_saying_where(client, callers):
    response = client.post("/v1/members", content=b'{"name": "x",, }',
                           headers={**callers["admin"], "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_json" and "field" not in error
    assert "not valid JSON" in error["message"] and "offset 13" in error["message"]


def test_unknown_route_uses_the_error_body_and_keeps_a_given_request_id(client):
    response = client.get("/v1/nothing-here", headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Not Found", "request_id": "abc-123"}
    assert response.headers["X-Request-ID"] == "abc-123"


def test_a_wrong_method_names_every_method_the_path_answers(client):
    answer = client.request("OPTIONS", "/v1/notify/wechat/push")  # GET and POST live in two routes
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"
    assert answer.headers["allow"] == "GET, POST"
    assert client.delete("/v1/stores/S-001").headers["allow"] == "GET, PATCH"  # a path with a parameter


def test_openapi_document_is_served_and_metrics_are_not_on_the_public_port(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/members", "/v1/members/{member_id}", "/healthz", "/readyz"} <= set(paths)
    client.get("/healthz")
    for path in ("/metrics", "/metrics/", "/status"):  # served on GATEWAY_METRICS_PORT only
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 404 and "loyalty_http_requests_total" not in answer.text


@pytest.mark.parametrize("exc_type, status", [
    ("InvalidInput", 422), ("NotFound", 404), ("Conflict", 409),
    ("InvalidEvent", 500), ("ZeroDivisionError", 500), ("MethodNotFound", 500),
])
def test_remote_errors_map_to_http(exc_type, status):
    assert remote_error_status(RemoteError(exc_type, "m"))[0] == status


def test_remote_error_parsing_reads_message_and_field():
    error = parse_remote_error({"exc_type": "InvalidInput", "exc_path": "contracts.errors.InvalidInput",
                                "exc_args": ["bad number", "phone"], "value": "phone: bad number"})
    assert (error.exc_type, error.message, error.field) == ("InvalidInput", "bad number", "phone")
    assert parse_remote_error({"exc_type": "KeyError", "exc_args": [], "value": "'x'"}).field is None


def test_docs_load_every_asset_from_the_gateway_itself(client):
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert sources, html.text
        for source in sources:
            assert source.startswith("/"), f"{page} loads {source} from elsewhere"
            assert client.get(source).status_code == 200, source
        assert "cdn" not in html.text.lower()
    assert client.get("/docs/oauth2-redirect").status_code == 200
