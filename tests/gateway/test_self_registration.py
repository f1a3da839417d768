"""App self-registration in front of the members service: a field members refuses is answered
before the one-time code is checked, so the member corrects it and registers with the same code."""
from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from services.gateway.rpc import RemoteError
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

NOW = "2026-11-23T10:00:00+00:00"


def _check(kwargs: dict[str, Any]) -> dict[str, Any]:
    if "<" in kwargs["name"]:
        raise RemoteError("InvalidInput", "'<' is not used in names", "name")
    return {"ok": True}  # members refuses the same names at register (stand-in for its rules)


@pytest.fixture
def otp_by_dev(client):
    real = client.app.state.settings
    client.app.state.settings = replace(real, otp_delivery="dev")
    yield
    client.app.state.settings = real


def test_a_refused_name_does_not_spend_the_code(client, engine, fake, otp_by_dev):  # noqa: F811
    phone = f"+86136{uuid.uuid4().int % 10**8:08d}"
    member_id = str(uuid.uuid4())
    member = {"member_id": member_id, "member_number": "800000000011", "name": "Li Lei", "phone": phone,
              "registration_store": None, "channel": "app", "status": "active", "version": 1, "created_at": NOW}
    fake({("members", "lookup_phone"): {"phone": phone, "member_id": None},
                     ("members", "check_registration"): _check,
                     ("members", "register"): lambda kw: {**_check(kw), "member": member, "created": True}})
    assert client.post("/v1/auth/member/code", json={"phone": phone, "purpose": "register"}).status_code == 202
    with engine.connect() as conn:
        code = conn.execute(sa.text("SELECT code FROM dev_code_deliveries WHERE phone = :p ORDER BY id DESC LIMIT 1"),
                            {"p": phone}).scalar_one()

    refused = client.post("/v1/auth/member/register", json={"phone": phone, "code": code, "name": "<b>Li</b>"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "name", refused.text

    signed_up = client.post("/v1/auth/member/register", json={"phone": phone, "code": code, "name": "Li Lei"})
    assert signed_up.status_code == 201, signed_up.text
    assert signed_up.json()["member"]["member_id"] == member_id and signed_up.json()["access_token"]
    again = client.post("/v1/auth/member/register", json={"phone": phone, "code": code, "name": "Li Lei"})
    assert again.status_code == 401  # the code was spent by the registration, once
