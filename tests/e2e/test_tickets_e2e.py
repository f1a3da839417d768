"""End to end: a complaint ticket through the gateway of a platform started as `make run` starts it.
A member opens and follows it with their own token, staff move it, a goodwill grant books points
through points.adjust (the adjustment limit applies, a retry grants once, the grant is audited), the
member closes and rates it, and their erasure reaches the ticket's text."""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from service_runtime import config as cfg
from tests.e2e.platform_fixture import platform_with_admin
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with platform_with_admin(tmp_path_factory.mktemp("tickets"), "tickets", OTP_DELIVERY="dev") as running:
        yield running


def _otp(platform, phone: str) -> str:
    parts = urlsplit(cfg.pg_admin_url())
    engine = sa.create_engine(urlunsplit(parts._replace(path="/" + platform["env"]["DB_NAME_PREFIX"] + "gateway")),
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT code FROM dev_code_deliveries WHERE phone = :p "
                                            "ORDER BY id DESC LIMIT 1"), {"p": "+86" + phone}).scalar())
    finally:
        engine.dispose()


def _member(platform) -> tuple[str, dict[str, str]]:
    phone = "137" + f"{uuid.uuid4().int % 10**8:08d}"
    created = platform["http"].post("/v1/members", json={"name": "Ticket Member", "phone": phone})
    assert created.status_code == 201, created.text
    anonymous = httpx.Client(base_url=platform["base"], timeout=30)
    assert anonymous.post("/v1/auth/member/code", json={"phone": phone}).status_code == 202
    login = anonymous.post("/v1/auth/member/token", json={"phone": phone, "code": _otp(platform, phone)})
    assert login.status_code == 200, login.text
    return created.json()["member"]["member_id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_a_member_complains_gets_goodwill_points_and_rates_the_answer(platform):
    http = platform["http"]
    member_id, mine = _member(platform)
    other_id, theirs = _member(platform)
    opened = http.post("/v1/tickets", headers=mine, json={
        "channel": "app", "category": "points", "severity": "high", "store": "SH-001",
        "text": "My points for yesterday's sale are missing", "sale_reference": "T-20261204-17",
        "attachments": ["files/receipt-17.jpg"]})
    assert opened.status_code == 201, opened.text
    ticket = opened.json()
    assert (ticket["member_id"], ticket["status"], ticket["opened_by"]) == (member_id, "open", "member")
    ticket_id = ticket["ticket_id"]
    assert http.post("/v1/tickets", headers=theirs, json={"member_id": member_id, "channel": "app", "category": "other",
                                                          "text": "not mine to open"}).status_code == 403
    assert http.get(f"/v1/tickets/{ticket_id}", headers=theirs).status_code == 403
    nobody = http.post("/v1/tickets", json={"member_id": str(uuid.uuid4()), "channel": "phone", "category": "other",
                                            "text": "who is this?"})
    assert nobody.status_code == 404 and nobody.json()["error"]["field"] == "member_id", nobody.text
    assert [t["ticket_id"] for t in http.get("/v1/tickets", headers=mine).json()["items"]] == [ticket_id]
    assert http.get("/v1/tickets", headers=theirs).json()["items"] == []
    assert http.post(f"/v1/tickets/{ticket_id}/assignment", headers=mine, json={"assignee": "x"}).status_code == 403
    bad = http.post(f"/v1/tickets/{ticket_id}/status", json={"status": "archived"})
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("status"), bad.text

    assert http.post(f"/v1/tickets/{ticket_id}/status", json={"status": "in_progress"}).status_code == 200
    too_much = http.post(f"/v1/tickets/{ticket_id}/goodwill", json={"points": 5_000_000, "reason": "sorry"})
    assert too_much.status_code == 422 and too_much.json()["error"]["field"] == "points", too_much.text
    key = {"Idempotency-Key": f"goodwill-{uuid.uuid4().hex}"}
    granted = wait_for(lambda: (r := http.post(f"/v1/tickets/{ticket_id}/goodwill", headers=key,
                                               json={"points": 150, "reason": "missing points, sorry"}))
                       .status_code == 201 and r, timeout=30, message="the goodwill grant (account opened)")
    body = granted.json()  # type: ignore[union-attr]
    assert body["ticket"]["goodwill_points"] == 150 and body["adjustment"]["entry"]["points"] == 150
    again = http.post(f"/v1/tickets/{ticket_id}/goodwill", headers=key, json={"points": 150,
                                                                             "reason": "missing points, sorry"})
    assert again.status_code in (200, 201) and again.json()["ticket"]["goodwill_points"] == 150, again.text
    assert http.get(f"/v1/members/{member_id}/points").json()["balance"] == 150
    audit = http.get("/v1/audit", params={"action": "tickets.goodwill", "object_id": ticket_id}).json()["items"]
    assert audit and audit[0]["details"]["points"] == 150

    assert http.post(f"/v1/tickets/{ticket_id}/status", json={"status": "resolved",
                                                              "note": "150 points granted"}).status_code == 200
    assert http.post(f"/v1/tickets/{ticket_id}/rating", headers=mine, json={"score": 5}).status_code == 422
    assert http.post(f"/v1/tickets/{ticket_id}/status", headers=mine, json={"status": "closed"}).status_code == 200
    assert http.post(f"/v1/tickets/{ticket_id}/rating", json={"score": 5}).status_code == 403  # staff do not rate
    rated = http.post(f"/v1/tickets/{ticket_id}/rating", headers=mine, json={"score": 5, "comment": "fast"})
    assert rated.status_code == 200 and rated.json()["rating"] == 5, rated.text
    history = http.get(f"/v1/tickets/{ticket_id}", headers=mine).json()["history"]
    assert [h["action"] for h in history] == ["opened", "status", "goodwill", "status", "status", "rated"]

    exported = http.get(f"/v1/members/{member_id}/export", headers=mine).json()["care"]["tickets"]
    assert [t["ticket_id"] for t in exported] == [ticket_id]
    assert http.post(f"/v1/members/{member_id}/erase").status_code == 200
    scrubbed = wait_for(lambda: (t := http.get(f"/v1/tickets/{ticket_id}").json())["text"] is None and t,
                        timeout=30, message="care handled member.erased")
    assert scrubbed["attachments"] == [] and scrubbed["rating"] == 5  # type: ignore[index]
    assert other_id != member_id
