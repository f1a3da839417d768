"""Readiness, the dependency status page and metrics on their own port, with the real broker
and no service running behind it: the gateway stays ready, /status says every service is down."""
from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from tests.gateway.conftest import gateway_settings
from tests.helpers import wait_for


@pytest.fixture(scope="module")
def no_services(platform_env):
    """A gateway on the real (test) broker where no service consumes, its metrics on a port of its own."""
    settings = gateway_settings(amqp_uri=platform_env["AMQP_URI"], metrics_port=0, ready_timeout_seconds=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, f"http://127.0.0.1:{client.app.state.ops.bound_port}"


def test_ready_with_every_service_down(no_services):
    client, _ = no_services
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=20, message="gateway connected")
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"broker": "ok", "database": "ok"}}


def test_status_page_lists_each_service_with_its_breaker_and_last_error(no_services):
    client, ops = no_services
    wait_for(lambda: client.get("/readyz").status_code == 200, timeout=20, message="gateway connected")
    status = httpx.get(ops + "/status").json()
    assert status["status"] == "degraded" and status["gateway"] == {"broker": "ok", "database": "ok"}
    assert set(status["services"]) == {"members", "points", "campaigns", "notify", "catalog", "feed", "care", "fraud",
                                       "analytics"}
    for name, service in status["services"].items():
        # unconsumed requests come back unroutable or time out: either way the service is down
        assert service["state"] in ("down: RpcUnavailable", "down: RpcTimeout"), name
        assert service["breaker"] in ("closed", "open", "half_open")
        assert service["last_error"].startswith(("RpcUnavailable", "RpcTimeout")) and service["last_error_at"]


def test_metrics_are_on_the_metrics_port_only(no_services):
    client, ops = no_services
    client.get("/healthz")
    client.get("/v1/nothing-here")
    scraped = httpx.get(ops + "/metrics")
    assert scraped.status_code == 200 and "loyalty_http_requests_total" in scraped.text
    assert scraped.headers["content-type"].startswith("text/plain")
    assert httpx.get(ops + "/metrics/").status_code == 200
    assert httpx.post(ops + "/metrics").status_code == 405
    assert httpx.get(ops + "/v1/members").status_code == 404
    public = client.get("/metrics")
    assert public.status_code == 404 and "loyalty_http_requests_total" not in public.text
