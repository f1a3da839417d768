"""End to end: the names members really have, self-registration's store and channel, and erasure
that leaves nothing behind: after a member is erased, no log file, trace file or table of any
service's database holds their phone, name or email."""
from __future__ import annotations

import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from service_runtime import config as cfg
from tests.e2e.platform_fixture import running_platform
from tests.helpers import wait_for

pytestmark = pytest.mark.e2e
SERVICES = ("gateway", "members", "points", "campaigns", "notify", "feed")


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("privacy")
    with running_platform(var, "privacy") as running:
        password = (var / "secrets" / "admin-password").read_text().strip()
        token = httpx.post(running["base"] + "/v1/auth/token", data={"username": "admin", "password": password}
                           ).json()["access_token"]
        with httpx.Client(base_url=running["base"], timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            yield {**running, "http": http}


def _phone() -> str:
    return "136" + f"{uuid.uuid4().int % 10**8:08d}"


def _engine(platform, service: str) -> sa.Engine:
    parts = urlsplit(cfg.pg_admin_url())
    url = urlunsplit(parts._replace(path="/" + platform["env"]["DB_NAME_PREFIX"] + service))
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def _scalar(platform, service: str, sql: str, **params: object) -> object:
    engine = _engine(platform, service)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def _code(platform, phone: str) -> str:
    return str(_scalar(platform, "gateway", "SELECT code FROM dev_code_deliveries WHERE phone = :p "
                       "ORDER BY id DESC LIMIT 1", p="+86" + phone))


@pytest.mark.parametrize("name", ["迪丽热巴・迪力木拉提", "迪丽热巴·迪力木拉提", "迪丽热巴•迪力木拉提", "王(小明)",
                                  "山田・太郎", "김민준", "N’Golo Kanté", "Seán O'Brien-Smith"])
def test_real_names_register_through_the_gateway(platform, name):
    created = platform["http"].post("/v1/members", json={"name": name, "phone": _phone()})
    assert created.status_code == 201, created.text
    assert created.json()["member"]["name"] == name


@pytest.mark.parametrize("name", ["<b>Li</b>", "Li\nLei", "x" * 101])
def test_markup_and_control_characters_are_refused_naming_the_field(platform, name):
    refused = platform["http"].post("/v1/members", json={"name": name, "phone": _phone()})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "name"


def test_self_registration_records_store_and_channel_and_me_shows_the_name(platform):
    anonymous = httpx.Client(base_url=platform["base"], timeout=30)
    phone, name = _phone(), "迪丽热巴・迪力木拉提"
    assert anonymous.post("/v1/auth/member/code", json={"phone": phone, "purpose": "register"}).status_code == 202
    body = {"phone": phone, "name": name, "channel": "web"}
    bad_store = anonymous.post("/v1/auth/member/register",
                               json={**body, "registration_store": "SH 001<", "code": _code(platform, phone)})
    assert bad_store.status_code == 422 and bad_store.json()["error"]["field"] == "registration_store"
    # the refusal came before the code was checked, so the same code still registers
    signed_up = anonymous.post("/v1/auth/member/register",
                               json={**body, "registration_store": "SH-002", "code": _code(platform, phone)})
    assert signed_up.status_code == 201, signed_up.text
    member = signed_up.json()["member"]
    assert (member["registration_store"], member["channel"], member["name"]) == ("SH-002", "web", name)
    seen = platform["http"].get(f"/v1/members/{member['member_id']}").json()
    assert (seen["registration_store"], seen["channel"]) == ("SH-002", "web")
    me = anonymous.get("/v1/me", headers={"Authorization": f"Bearer {signed_up.json()['access_token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "member" and me.json()["name"] == name


def test_the_development_code_line_says_which_phone_masked(platform):
    phone = _phone()
    anonymous = httpx.Client(base_url=platform["base"], timeout=30)
    assert anonymous.post("/v1/auth/member/code", json={"phone": phone, "purpose": "register"}).status_code == 202
    masked = phone[:3] + "****" + phone[-4:]

    def line() -> str | None:
        log = (platform["var"] / "log" / "gateway.log").read_text(errors="replace")
        found = [entry for entry in log.splitlines() if "DEVELOPMENT DELIVERY CHANNEL" in entry and masked in entry]
        return found[-1] if found else None

    logged = str(wait_for(line, message="the development code line"))
    assert "a new registration" in logged and _code(platform, phone) in logged and phone not in logged


def _texts(value: str) -> list[str]:
    """A value as logs and JSON columns may hold it: raw, and JSON-escaped (\\uXXXX)."""
    return sorted({value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]})


def _files_holding(var: Path, needles: list[str]) -> list[str]:
    found = []
    for path in sorted([*(var / "log").glob("*"), *(var / "traces").glob("*")]):
        text = path.read_bytes().decode("utf-8", errors="replace")
        for needle in needles:
            for line in text.splitlines():
                if needle in line:
                    found.append(f"{path.name}: {needle!r} in {line[:300]}")
                    break
    return found


def _rows_holding(platform, needles: list[str]) -> list[str]:
    found = []
    for service in SERVICES:
        engine = _engine(platform, service)
        try:
            with engine.connect() as conn:
                tables = conn.execute(sa.text("SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN "
                                              "('pg_catalog', 'information_schema')")).all()
                for schema, table in tables:
                    for row in conn.execute(sa.text(f'SELECT * FROM "{schema}"."{table}"')).all():
                        text = " ".join(bytes(v).decode("utf-8", errors="replace")
                                        if isinstance(v, (bytes, memoryview)) else str(v) for v in row)
                        found += [f"{service}.{table}: {n!r} in {text[:300]}" for n in needles if n in text]
        finally:
            engine.dispose()
    return found


def test_an_erased_member_leaves_nothing_in_logs_traces_or_tables(platform):
    http = platform["http"]
    phone, name, email = _phone(), f"迪丽热巴・{uuid.uuid4().hex[:6]}", f"dilraba.{uuid.uuid4().hex[:8]}@example.com"
    created = http.post("/v1/members", headers={"Idempotency-Key": str(uuid.uuid4())},
                        json={"name": name, "phone": phone, "email": email, "registration_store": "SH-001"})
    assert created.status_code == 201, created.text
    member_id = created.json()["member"]["member_id"]
    # every way their phone and name travel: lookups, a login by code, consent, a sale that changes the
    # tier (a transactional SMS with their name through notify's channel), an update
    assert http.get("/v1/members", params={"phone": phone}).json()["items"][0]["member_id"] == member_id
    assert http.put(f"/v1/members/{member_id}/consents/sms",
                    json={"granted": True, "text_version": "2026-11", "source": "pos"}).status_code == 200
    anonymous = httpx.Client(base_url=platform["base"], timeout=30)
    assert anonymous.post("/v1/auth/member/code", json={"phone": phone}).status_code == 202
    login = anonymous.post("/v1/auth/member/token", json={"phone": phone, "code": _code(platform, phone)})
    assert login.status_code == 200, login.text
    member_auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert anonymous.get("/v1/me", headers=member_auth).json()["name"] == name
    sale = {"store": "SH-001", "terminal": "T1", "transaction_id": f"P-{uuid.uuid4().hex[:10]}", "member_id": member_id,
            "amount": "20000.00", "sold_at": "2026-11-23T10:30:00+08:00",
            "items": [{"sku": "TV-65", "category": "electronics", "amount": "20000.00"}]}
    sold = wait_for(lambda: (r := http.post("/v1/points/sales", json=sale)).status_code in (200, 201) and r,
                    timeout=30, message="the sale")
    assert sold.json()["tier"] != "normal", sold.text  # type: ignore[union-attr]

    def tier_message_sent() -> bool:
        messages = http.get("/v1/notify/messages", params={"member_id": member_id}).json()
        items = messages["items"] if isinstance(messages, dict) else messages
        return any(m["template"] == "tier.changed" and m["status"] in ("sent", "delivered") for m in items)

    wait_for(tier_message_sent, timeout=30, message="the tier.changed SMS through the console channel")
    erased = http.post(f"/v1/members/{member_id}/erase")
    assert erased.status_code == 200, erased.text

    def forgotten() -> bool:  # points, campaigns and notify have each handled member.erased
        return all(_scalar(platform, service, "SELECT count(*) FROM inbox WHERE event_type = 'member.erased'")
                   for service in ("points", "campaigns", "notify"))

    wait_for(forgotten, timeout=30, message="member.erased consumed everywhere")
    needles = [*_texts(name), phone, *_texts(email)]
    leaks = _files_holding(platform["var"], needles) + _rows_holding(platform, needles)
    assert not leaks, "personal data left after erasure:\n" + "\n".join(leaks)
