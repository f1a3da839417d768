"""The gateway with its own database away: liveness still answers, the rest is 503 + Retry-After."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.gateway.app import create_app
from tests.gateway.conftest import gateway_settings


@pytest.fixture(scope="module")
def no_database():  # no test database or vhost needed: nothing here reaches one
    settings = gateway_settings(database_url="postgresql://postgres@127.0.0.1:1/gone")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_healthz_needs_nothing(no_database):
    response = no_database.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_staff_login_is_503_with_retry_after(no_database):
    response = no_database.post("/v1/auth/token", data={"username": "someone", "password": "whatever it is"})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "service_unavailable"


def test_an_api_key_that_cannot_be_checked_is_503_not_500(no_database):
    response = no_database.post("/v1/points/sales", headers={"X-API-Key": "lk_" + "x" * 40},
                                json={"member_id": "x", "store": "SH-001", "transaction_id": "T1", "amount": "1.00"})
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"]


def test_readyz_says_the_database_is_not_ready(no_database):
    response = no_database.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] != "ok"
