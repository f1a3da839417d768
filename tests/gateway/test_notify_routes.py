"""The notify routes in front of the service: bodies refused with the field named, and (with a stand-in
for the services) what each route sends and how it answers; the provider receipt route is signed."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.gateway.rpc import RemoteError
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

NOW = "2026-11-23T10:00:00+00:00"


def _message(**values: Any) -> dict[str, Any]:
    return {"message_id": str(uuid.uuid4()), "member_id": None, "campaign_id": None, "template": "birthday",
            "channel": "sms", "marketing": False, "status": "sent", "reason": None, "attempts": 1, "last_error": None,
            "provider_message_id": "p-1", "not_before": NOW, "created_at": NOW, "sent_at": NOW,
            "delivered_at": None, "dead_at": None, "replayed_at": None, "steps": [], **values}


@pytest.mark.parametrize("method,path,body,field", [
    ("PUT", "/v1/notify/templates/birthday/sms/en", {"body": "x", "subject": "s" * 201}, "subject"),
    ("PUT", "/v1/notify/templates/birthday/fax/en", {"body": "x"}, "channel"),
    ("PUT", "/v1/notify/templates/birthday/sms/fr", {"body": "x"}, "locale"),
    ("PUT", "/v1/notify/templates/Bad Key/sms/en", {"body": "x"}, "key"),
    ("POST", "/v1/notify/templates/preview", {"key": "birthday", "channel": "pigeon"}, "channel"),
    ("GET", "/v1/notify/messages?limit=0", None, "limit"),
    ("GET", "/v1/notify/messages?member_id=nope", None, "member_id"),
    ("GET", "/v1/notify/messages?status=lost", None, "status"),
])
def test_bad_requests_name_the_field(client, callers, method, path, body, field):
    response = client.request(method, path, headers=callers["admin"], json=body)
    assert response.status_code == 422, response.text
    assert (response.json()["error"].get("field") or "").endswith(field), response.json()


def test_a_template_with_an_unknown_variable_is_refused_naming_it(client, callers, fake):  # noqa: F811
    fake({("notify", "save_template"): RemoteError("InvalidInput", "unknown variable 'points'",
                                                   "body.points")})
    response = client.put("/v1/notify/templates/birthday/sms/en", headers=callers["marketer"],
                          json={"body": "Hi {{name}}, {{points}}"})
    assert response.status_code == 422 and response.json()["error"]["field"] == "body.points"


def test_routes_make_one_call_each_and_relay_the_answer(client, callers, fake):  # noqa: F811
    message = _message(status="failed", dead_at=NOW)
    services = fake({("notify", "dead_letters"): {"depth": 1, "items": [message]},
                     ("notify", "replay"): {**message, "status": "queued", "dead_at": None, "replayed_at": NOW},
                     ("notify", "messages"): [message]})
    listed = client.get("/v1/notify/dead-letters", headers=callers["admin"])
    assert listed.status_code == 200 and listed.json()["depth"] == 1
    replayed = client.post(f"/v1/notify/dead-letters/{message['message_id']}/replay", headers=callers["admin"])
    assert replayed.status_code == 200 and replayed.json()["status"] == "queued"
    campaign = client.get("/v1/notify/messages?campaign_id=c-1", headers=callers["auditor"])
    assert campaign.status_code == 200 and campaign.json()["items"][0]["message_id"] == message["message_id"]
    assert [(s, m) for s, m, _ in services.calls] == [("notify", "dead_letters"), ("notify", "replay"),
                                                      ("notify", "messages")]
    assert services.calls[1][2] == {"message_id": message["message_id"]}
    assert services.calls[2][2]["campaign_id"] == "c-1"


def test_a_member_reads_their_own_messages_only(client, callers, fake):  # noqa: F811
    own = callers["member_id"]["id"]
    fake({("notify", "messages"): [_message(member_id=own)]})
    assert client.get(f"/v1/members/{own}/messages", headers=callers["member"]).status_code == 200
    assert client.get(f"/v1/members/{uuid.uuid4()}/messages", headers=callers["member"]).status_code == 403


def test_a_provider_receipt_needs_no_token_and_is_passed_on_with_its_signature(client, fake):  # noqa: F811
    services = fake({("notify", "signed_receipt"): _message(status="delivered")})
    response = client.post("/v1/notify/receipts/sms", content=b'{"provider_message_id":"p-1"}',
                           headers={"X-Loyalty-Timestamp": "1700000000", "X-Loyalty-Signature": "sha256=ab",
                                    "Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["status"] == "delivered"
    assert services.calls[0][2] == {"channel": "sms", "timestamp": "1700000000", "signature": "sha256=ab",
                                    "body": '{"provider_message_id":"p-1"}'}


@pytest.fixture
def otp_by_notify(client):
    from dataclasses import replace

    real = client.app.state.settings
    client.app.state.settings = replace(real, otp_delivery="notify")
    yield
    client.app.state.settings = real


def test_login_codes_go_out_through_notify_when_configured(client, fake, engine, otp_by_notify):  # noqa: F811
    import sqlalchemy as sa

    phone = f"+86137{uuid.uuid4().int % 10**8:08d}"
    services = fake({("members", "lookup_phone"): {"phone": phone, "member_id": str(uuid.uuid4())},
                     ("notify", "send_code"): {"message_id": str(uuid.uuid4()), "status": "sent"}})
    response = client.post("/v1/auth/member/code", json={"phone": phone})
    assert response.status_code == 202 and response.json()["delivery"] == "notify"
    [(service, method, kwargs)] = [c for c in services.calls if c[1] == "send_code"]
    assert kwargs["phone"] == phone and kwargs["code"].isdigit() and kwargs["purpose"] == "login"
    with engine.connect() as conn:  # the development channel kept nothing
        assert conn.execute(sa.text("SELECT count(*) FROM dev_code_deliveries WHERE phone = :p"),
                            {"p": phone}).scalar() == 0


def test_notify_refusing_a_code_is_a_429(client, fake, otp_by_notify):  # noqa: F811
    phone = f"+86137{uuid.uuid4().int % 10**8:08d}"
    fake({("members", "lookup_phone"): {"phone": phone, "member_id": str(uuid.uuid4())},
          ("notify", "send_code"): RemoteError("Conflict", "too many codes for this phone", "phone")})
    response = client.post("/v1/auth/member/code", json={"phone": phone})
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
