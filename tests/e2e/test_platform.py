"""End to end: the platform started as `make run` starts it, driven over HTTP.

Runs on its own databases (prefix loyalty_e2e_) and AMQP virtual host (loyalty_e2e),
with its own ports, so it never touches a platform a developer has running.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from service_runtime import bootstrap
from service_runtime import config as cfg
from service_runtime.config import metrics_port_settings
from tests.conftest import E2E_VHOST
from tests.helpers import wait_for
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = [sys.executable, str(ROOT / "deploy" / "local" / "platform.py")]
E2E_AMQP = f"amqp://guest:guest@127.0.0.1:5672/{E2E_VHOST}"

pytestmark = pytest.mark.e2e



@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("platform")
    env = dict(os.environ)
    env.update({
        "VAR_DIR": str(var), "DB_NAME_PREFIX": E2E_VHOST + "_", "AMQP_URI": E2E_AMQP,
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(free_port()), "OTEL_TRACES_EXPORTER": "jsonfile",
        "TRACE_FILE_DIR": str(var / "traces"), "DEMO_DATA": "1", "RPC_TIMEOUT_SECONDS": "10",
        "BOOTSTRAP_ADMIN_USER": "e2e-admin", "BOOTSTRAP_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48), "OTP_DELIVERY": "dev",
        "RATE_LIMIT_STAFF": "500/1000", "RATE_LIMIT_IP": "500/1000",
    })
    env.update({setting: str(free_port()) for setting in metrics_port_settings()})
    bootstrap.empty_vhost(E2E_AMQP)
    subprocess.run([sys.executable, "-m", "service_runtime.bootstrap", "--drop"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    started = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    assert f"Gateway:  {base}" in started.stdout and f"API docs: {base}/docs" in started.stdout
    assert f"Admin:    e2e-admin / {env['BOOTSTRAP_ADMIN_PASSWORD']}" in started.stdout
    assert "demo data: 2 members" in started.stdout  # demo data goes in through the authenticated API
    token = _login(base, "e2e-admin", env["BOOTSTRAP_ADMIN_PASSWORD"])
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        yield {"http": http, "env": env, "var": var, "started": started.stdout, "base": base}
    stopped = subprocess.run(PLATFORM + ["stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    pids = [int(line.split("pid ")[1].split(",")[0]) for line in started.stdout.splitlines() if "(pid " in line]
    assert pids and not any(Path(f"/proc/{pid}").exists() and
                            Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z" for pid in pids)


def _login(base: str, username: str, password: str) -> str:
    response = httpx.post(base + "/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _phone() -> str:
    return "135" + str(uuid.uuid4().int)[:8]


def _points_of(http: httpx.Client, member_id: str) -> object:
    response = http.get(f"/v1/members/{member_id}")
    assert response.status_code == 200, response.text
    return response.json()["points"]


def test_ready(platform):
    ready = platform["http"].get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"].values()) == {"ok"}
    assert platform["http"].get("/docs").status_code == 200


def test_register_then_read_with_points_from_the_points_service(platform):
    http = platform["http"]
    created = http.post("/v1/members", json={"name": "E2E Member", "phone": _phone(), "channel": "web"})
    assert created.status_code == 201, created.text
    member = created.json()["member"]
    assert created.headers["Location"] == f"/v1/members/{member['member_id']}"
    points = wait_for(lambda: _points_of(http, member["member_id"]), message="points account")
    assert points == {"balance": 0, "tier": "normal", "held": 0, "available": 0}
    again = http.post("/v1/members", json={"name": "Someone Else", "phone": member["phone"]})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["member"]["member_id"] == member["member_id"]


@pytest.mark.parametrize("body, field", [
    ({"name": "<script>alert(1)</script>", "phone": "13500000000"}, "name"),
    ({"name": "Robert'); DROP TABLE members;--", "phone": "13500000000"}, "name"),
    ({"phone": "13500000000"}, "name"),
    ({"name": "No Phone"}, "phone"),
    ({"name": "Bad Phone", "phone": "1350000"}, "phone"),
    ({"name": "Bad Phone", "phone": "+86 23500000000"}, "phone"),
])
def test_bad_input_is_422_naming_the_field_and_writes_nothing(platform, body, field):
    http = platform["http"]
    before = _count_members(platform)
    response = http.post("/v1/members", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert response.json()["error"]["code"] == "invalid_input"
    assert _count_members(platform) == before


def _e2e_scalar(platform, service: str, sql: str, **params: object) -> object:
    parts = urlsplit(cfg.pg_admin_url())
    url = urlunsplit(parts._replace(path="/" + platform["env"]["DB_NAME_PREFIX"] + service))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def _count_members(platform) -> int:
    return int(_e2e_scalar(platform, "members", "SELECT count(*) FROM members"))


def test_unknown_member_is_404(platform):
    response = platform["http"].get(f"/v1/members/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _spans(var: Path, trace_id: str) -> list[dict[str, object]]:
    spans = []
    for path in (var / "traces").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            span = json.loads(line)
            if span["trace_id"] == trace_id:
                spans.append(span)
    return spans


def test_one_trace_from_gateway_through_rpc_into_another_services_event_handler(platform):
    http = platform["http"]
    response = http.post("/v1/members", json={"name": "Traced", "phone": _phone()})
    assert response.status_code == 201
    trace_id = response.headers["X-Trace-ID"]

    def complete() -> list[dict[str, object]] | None:
        spans = _spans(platform["var"], trace_id)
        names = {(s["service"], s["name"]) for s in spans}
        return spans if ("points", "points.on_member_registered") in names else None

    spans = wait_for(complete, message="spans from gateway, members and points")
    by_name = {s["name"]: s for s in spans}
    rpc_client = by_name["rpc members.register"]
    register = by_name["members.register"]
    handler = by_name["points.on_member_registered"]
    assert rpc_client["service"] == "gateway" and rpc_client["kind"] == "CLIENT"
    assert register["parent_span_id"] == rpc_client["span_id"]
    assert handler["parent_span_id"] == register["span_id"] and handler["kind"] == "CONSUMER"
    request_id = response.headers["X-Request-ID"]
    member_id = response.json()["member"]["member_id"]
    logged = [json.loads(line) for line in (platform["var"] / "log" / "members.log").read_text().splitlines()
              if line.startswith("{") and member_id in line]
    assert logged, "members logs each registration"
    assert logged[0]["service"] == "members"
    assert (logged[0]["trace_id"], logged[0]["request_id"]) == (trace_id, request_id)


def test_metrics_endpoints(platform):
    http, env = platform["http"], platform["env"]
    gateway_metrics = httpx.get(f"http://127.0.0.1:{env['GATEWAY_METRICS_PORT']}/metrics").text
    assert "loyalty_http_requests_total" in gateway_metrics
    assert http.get("/metrics").status_code == 404  # never on the public port
    status = httpx.get(f"http://127.0.0.1:{env['GATEWAY_METRICS_PORT']}/status").json()
    assert status["status"] == "ok" and {s["state"] for s in status["services"].values()} == {"up"}
    members_metrics = httpx.get(f"http://127.0.0.1:{env['MEMBERS_METRICS_PORT']}/metrics").text
    assert 'loyalty_entrypoint_calls_total{kind="rpc",method="register"' in members_metrics
    assert "loyalty_outbox_backlog" in members_metrics


def test_second_start_says_it_is_running_instead_of_starting_twins(platform):
    again = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=platform["env"], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0
    assert "already running" in again.stdout


def _staff(platform, role: str, stores: list[str] | None) -> httpx.Client:
    username, password = f"{role}-{uuid.uuid4().hex[:6]}", secrets.token_urlsafe(16)
    created = platform["http"].post("/v1/staff", json={"username": username, "password": password,
                                                        "roles": [role], "stores": stores})
    assert created.status_code == 201, created.text
    token = _login(platform["base"], username, password)
    return httpx.Client(base_url=platform["base"], timeout=30, headers={"Authorization": f"Bearer {token}"})


def test_contact_data_is_masked_by_role_and_store(platform):
    http = platform["http"]
    phone = _phone()
    member = http.post("/v1/members", json={"name": "Masked Member", "phone": phone,
                                            "registration_store": "SH-001"}).json()["member"]
    expected = {("clerk", ("SH-001",)): True, ("manager", ("SH-001",)): False, ("manager", ("BJ-001",)): True,
                ("marketer", None): True, ("admin", None): False}
    for (role, stores), masked in expected.items():
        with _staff(platform, role, list(stores) if stores else None) as client:
            seen = client.get(f"/v1/members/{member['member_id']}")
            assert seen.status_code == 200, (role, seen.text)
            assert seen.json()["contact_masked"] is masked, role
            assert seen.json()["phone"] == (phone[:3] + "****" + phone[-4:] if masked else "+86" + phone)
    with _staff(platform, "auditor", None) as auditor:
        assert auditor.get(f"/v1/members/{member['member_id']}").status_code == 403
        reads = auditor.get("/v1/audit", params={"action": "member.contact_data_read",
                                                 "object_id": member["member_id"]}).json()["items"]
        # the admin's registration response, the manager of SH-001 and the admin saw the full phone
        assert len(reads) == 3


def test_pos_key_registers_for_its_own_store_only(platform):
    http = platform["http"]
    key = http.post("/v1/api-keys", json={"name": "e2e till", "kind": "pos", "store": "SH-001"}).json()["key"]
    with httpx.Client(base_url=platform["base"], headers={"X-API-Key": key}, timeout=30) as till:
        created = till.post("/v1/members", json={"name": "At The Till", "phone": _phone()})
        assert created.status_code == 201, created.text
        assert created.json()["member"]["registration_store"] == "SH-001"
        assert created.json()["member"]["channel"] == "pos"
        elsewhere = till.post("/v1/members", json={"name": "Elsewhere", "phone": _phone(),
                                                    "registration_store": "BJ-001"})
        assert elsewhere.status_code == 403


def test_member_logs_in_with_a_one_time_code_and_sees_only_their_own_record(platform):
    http = platform["http"]
    phone = _phone()
    mine = http.post("/v1/members", json={"name": "App User", "phone": phone}).json()["member"]
    other = http.post("/v1/members", json={"name": "Someone Else", "phone": _phone()}).json()["member"]
    anonymous = httpx.Client(base_url=platform["base"], timeout=30)
    sent = anonymous.post("/v1/auth/member/code", json={"phone": phone})
    assert sent.status_code == 202 and sent.json()["delivery"] == "dev"
    assert anonymous.post("/v1/auth/member/code", json={"phone": _phone()}).status_code == 202  # no disclosure
    # DEVELOPMENT DELIVERY CHANNEL: the code is read where OTP_DELIVERY=dev writes it
    code = _e2e_scalar(platform, "gateway", "SELECT code FROM dev_code_deliveries WHERE phone = :p "
                       "ORDER BY id DESC LIMIT 1", p="+86" + phone)
    wrong = "000000" if code != "000000" else "111111"
    assert anonymous.post("/v1/auth/member/token", json={"phone": phone, "code": wrong}).status_code == 401
    login = anonymous.post("/v1/auth/member/token", json={"phone": phone, "code": code})
    assert login.status_code == 200, login.text
    assert anonymous.post("/v1/auth/member/token", json={"phone": phone, "code": code}).status_code == 401  # once
    member = {"Authorization": f"Bearer {login.json()['access_token']}"}
    own = anonymous.get(f"/v1/members/{mine['member_id']}", headers=member)
    assert own.status_code == 200 and own.json()["phone"] == "+86" + phone and own.json()["contact_masked"] is False
    assert anonymous.get(f"/v1/members/{other['member_id']}", headers=member).status_code == 403
    assert anonymous.post("/v1/members", headers=member, json={"name": "X", "phone": _phone()}).status_code == 403


def test_a_member_shows_a_qr_code_a_till_scans_it_and_classes_are_searchable(platform):
    http = platform["http"]
    phone = _phone()
    mine = http.post("/v1/members", json={"name": "QR User", "phone": phone,
                                          "registration_store": "SH-001"}).json()["member"]
    assert mine["lifecycle"] == "new" and mine["purchase_count"] == 0
    anonymous = httpx.Client(base_url=platform["base"], timeout=30)
    assert anonymous.post("/v1/auth/member/code", json={"phone": phone}).status_code == 202
    code = _e2e_scalar(platform, "gateway", "SELECT code FROM dev_code_deliveries WHERE phone = :p "
                       "ORDER BY id DESC LIMIT 1", p="+86" + phone)
    token = anonymous.post("/v1/auth/member/token", json={"phone": phone, "code": code}).json()["access_token"]
    shown = anonymous.get("/v1/members/me/qr", headers={"Authorization": f"Bearer {token}"})
    assert shown.status_code == 200, shown.text
    assert shown.json()["svg"].startswith("<svg") and shown.headers["cache-control"] == "no-store"
    assert http.get("/v1/members/me/qr").status_code == 403  # staff scan codes, they do not mint them
    with _till(platform) as till:
        scanned = till.post("/v1/members/identify", json={"code": shown.json()["code"]})
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["member_id"] == mine["member_id"] and scanned.json()["contact_masked"] is True
        qr = shown.json()["code"]
        forged = till.post("/v1/members/identify", json={"code": qr[:10] + ("B" if qr[10] == "A" else "A") +
                                                        qr[11:]})  # another member id, the signature kept
        assert forged.status_code == 422 and forged.json()["error"]["field"] == "code"
    settings = http.get("/v1/members/lifecycle/settings").json()
    bad = http.put("/v1/members/lifecycle/settings", json={**_thresholds(settings), "dormant_days": 10})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "dormant_days"
    assert http.put("/v1/members/lifecycle/settings", json=_thresholds(settings)).status_code == 200
    assert http.get("/v1/audit", params={"action": "members.lifecycle_settings_changed"}).json()["items"]
    found = http.get("/v1/members", params={"store": "SH-001", "lifecycle": "new", "limit": 200}).json()
    assert mine["member_id"] in {m["member_id"] for m in found["items"]}


def _thresholds(settings: dict) -> dict:
    return {k: settings[k] for k in ("at_risk_days", "dormant_days", "lost_days", "active_min_purchases")}


def test_member_record_update_with_etag_history_and_store_scope(platform):
    http = platform["http"]
    created = http.post("/v1/members", json={
        "name": "Full Record", "phone": _phone(), "registration_store": "SH-001", "gender": "female",
        "birthday": "1992-02-29", "email": "full.record@example.com", "id_number": "310101199202290021",
        "tags": ["vip"], "preferences": {"language": "zh-CN", "newsletter": False}})
    assert created.status_code == 201, created.text
    member = created.json()["member"]
    assert created.headers["ETag"] == '"1"' and member["email"] == "full.record@example.com"
    path = f"/v1/members/{member['member_id']}"
    assert http.patch(path, json={"name": "No Etag"}).status_code == 428
    changed = http.patch(path, json={"name": "Renamed", "tags": ["vip", "gold"]}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["ETag"] == '"2"' and changed.json()["name"] == "Renamed"
    stale = http.patch(path, json={"name": "Lost Update"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 409 and stale.json()["error"]["field"] == "version"
    history = http.get(path + "/history").json()["items"]
    assert [h["version"] for h in history] == [2] and history[0]["fields"]["name"]["to"] == "Renamed"
    with _staff(platform, "manager", ["BJ-001"]) as elsewhere:
        assert elsewhere.patch(path, json={"name": "Not Mine"}, headers={"If-Match": '"2"'}).status_code == 403
        seen = elsewhere.get(path).json()  # lookups reach the whole chain, contact data masked
        assert seen["contact_masked"] is True and seen["email"] == "f***@example.com"
        assert seen["id_number"].endswith("0021") and seen["id_number"].startswith("*")
    assert http.get(path).json()["name"] == "Renamed"


def test_search_is_paged_and_scoped_to_the_callers_stores(platform):
    http = platform["http"]
    tag = "t" + uuid.uuid4().hex[:8]
    for store in ("SH-001", "SH-001", "BJ-001"):
        assert http.post("/v1/members", json={"name": "Searchable", "phone": _phone(), "registration_store": store,
                                              "tags": [tag]}).status_code == 201
    first = http.get("/v1/members", params={"tag": tag, "limit": 2}).json()
    second = http.get("/v1/members", params={"tag": tag, "limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 2 and len(second["items"]) == 1 and second["next_cursor"] is None
    bj_member = second["items"][0] if second["items"][0]["registration_store"] == "BJ-001" else None
    with _staff(platform, "clerk", ["SH-001"]) as clerk:
        mine = clerk.get("/v1/members", params={"tag": tag}).json()["items"]
        assert {m["registration_store"] for m in mine} == {"SH-001"} and len(mine) == 2
        assert all(m["contact_masked"] for m in mine)
        if bj_member is not None:
            by_number = clerk.get("/v1/members", params={"member_number": bj_member["member_number"]}).json()
            assert by_number["items"][0]["member_id"] == bj_member["member_id"]  # identifiers reach the chain


def test_consent_given_at_a_till_and_withdrawn(platform):
    http = platform["http"]
    member = http.post("/v1/members", json={"name": "Consenting", "phone": _phone(),
                                            "registration_store": "BJ-001"}).json()["member"]
    key = http.post("/v1/api-keys", json={"name": "consent till", "kind": "pos", "store": "SH-001"}).json()["key"]
    with httpx.Client(base_url=platform["base"], headers={"X-API-Key": key}, timeout=30) as till:
        given = till.put(f"/v1/members/{member['member_id']}/consents/sms",
                         json={"granted": True, "text_version": "2026-11"})
        assert given.status_code == 200, given.text
        assert given.json()["source"] == "pos" and given.json()["granted"] is True
    withdrawn = http.put(f"/v1/members/{member['member_id']}/consents/sms",
                         json={"granted": False, "text_version": "2026-11", "source": "phone call"})
    assert withdrawn.json()["granted"] is False
    consents = http.get(f"/v1/members/{member['member_id']}/consents").json()["items"]
    assert [(c["channel"], c["granted"]) for c in consents] == [("sms", False)]
    assert http.put(f"/v1/members/{member['member_id']}/consents/fax",
                    json={"granted": True, "text_version": "1"}).status_code == 422


def _import(http: httpx.Client, content: bytes, media: str, **params: str) -> dict:
    started = http.post("/v1/members/imports", content=content, headers={"Content-Type": media}, params=params)
    assert started.status_code == 202, started.text

    def finished() -> dict | None:
        job = http.get(f"/v1/members/imports/{started.json()['job_id']}").json()
        return job if job["status"] != "running" else None

    return wait_for(finished, timeout=60, interval=0.2, message="import finished")


def test_csv_import_reports_bad_rows_commits_good_ones_and_is_idempotent(platform):
    http = platform["http"]
    phones = [_phone() for _ in range(4)]
    csv_text = (
        "external_id,name,phone,email,gender,birthday,registration_store,tags\n"
        f"E1,张三,{phones[0]},zhang@example.com,male,1988-05-01,SH-001,vip;coffee\n"
        f"E2,李四,{phones[1]},,female,2999-01-01,SH-001,\n"           # birthday in the future
        f"E3,王五,12345,,,,SH-001,\n"                                 # malformed phone
        f"E4,赵六,{phones[2]},not-an-email,,,BJ-001,\n"               # malformed email
        f"E5,钱七,{phones[3]},,undisclosed,1990/02/03,BJ-001,\n"
        f"E6,孙八,{phones[3]},,,,BJ-001,\n"                           # same phone as the line above
        "E7,周九,13,too,many,values,here,x,y\n"                        # wrong number of values
    )
    first = _import(http, csv_text.encode("gbk"), "text/csv", source="erp-e2e")  # a GBK file, detected
    assert first["encoding"] == "gb18030" and first["status"] == "done", first
    assert (first["rows_total"], first["rows_created"], first["rows_failed"]) == (7, 2, 5)
    errors = http.get(f"/v1/members/imports/{first['job_id']}/errors").json()["items"]
    assert [(e["line"], e["field"]) for e in errors] == [
        (3, "birthday"), (4, "phone"), (5, "email"), (7, "phone"), (8, "row")]
    assert "line 6" in errors[3]["message"]
    found = http.get("/v1/members", params={"phone": phones[0]}).json()["items"][0]
    assert found["name"] == "张三" and found["tags"] == ["coffee", "vip"] and found["channel"] == "import"
    again = _import(http, csv_text.encode("gbk"), "text/csv", source="erp-e2e")
    assert (again["rows_created"], again["rows_existing"]) == (0, 2)  # nothing twice


def test_json_import_and_refused_files(platform):
    http = platform["http"]
    records = [{"name": "Json One", "phone": _phone(), "tags": ["a"]}, {"name": "Json Two", "phone": "bad"}]
    job = _import(http, json.dumps(records).encode(), "application/json")
    assert (job["rows_created"], job["rows_failed"]) == (1, 1)
    ndjson = "\n".join(json.dumps({"name": "Nd", "phone": _phone(), "extra": 1}) for _ in range(2)).encode()
    assert _import(http, ndjson, "application/x-ndjson")["rows_failed"] == 2  # unknown field per row
    wrong_header = http.post("/v1/members/imports", content=b"nom,telephone\nA,13800000000\n",
                             headers={"Content-Type": "text/csv"})
    assert wrong_header.status_code == 422 and wrong_header.json()["error"]["field"] == "header"
    not_text = http.post("/v1/members/imports", content=b"name,phone\n\xff\xfe\xfa\x00\x81,1\n",
                         headers={"Content-Type": "text/csv"}, params={"encoding": "utf-8"})
    assert not_text.status_code == 422 and not_text.json()["error"]["field"] == "encoding"
    assert http.post("/v1/members/imports", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415


def test_export_merge_erase_and_bulk_tags(platform):
    http = platform["http"]
    store = "X-" + uuid.uuid4().hex[:6]
    keep = http.post("/v1/members", json={"name": "Keeper", "phone": _phone(), "registration_store": store}).json()
    gone = http.post("/v1/members", json={"name": "Duplicate", "phone": _phone(), "registration_store": store}).json()
    keep_id, gone_id = keep["member"]["member_id"], gone["member"]["member_id"]
    wait_for(lambda: _points_of(http, keep_id), message="points account")
    exported = http.get(f"/v1/members/{keep_id}/export").json()
    assert exported["members"]["profile"]["name"] == "Keeper"
    assert exported["points"]["account"]["balance"] == 0
    wait_for(lambda: http.get(f"/v1/members/{keep_id}/export").json()["campaigns"], message="campaigns' copy")
    campaigns_part = http.get(f"/v1/members/{keep_id}/export").json()["campaigns"]
    assert campaigns_part["segmentation_profile"]["store"] == store
    assert (campaigns_part["campaigns"], campaigns_part["coupons"], campaigns_part["reward_exchanges"]) == ([], [], [])
    tagged = http.post("/v1/members/bulk-tags", json={"store": store, "add": ["reactivate"]})
    assert tagged.json() == {"members_changed": 2}
    merged = http.post(f"/v1/members/{keep_id}/merge", json={"merged_member_id": gone_id})
    assert merged.status_code == 200, merged.text
    assert http.get(f"/v1/members/{gone_id}").json()["member_id"] == keep_id  # the old id leads to the survivor
    retried = http.post(f"/v1/members/{keep_id}/merge", json={"merged_member_id": gone_id})
    assert retried.status_code == 200 and retried.json()["member_id"] == keep_id  # a retry changes nothing
    assert http.post(f"/v1/members/{gone_id}/merge", json={"merged_member_id": keep_id}).status_code == 409
    erased = http.post(f"/v1/members/{keep_id}/erase")
    assert erased.status_code == 200 and erased.json()["name"] == "(erased)" and erased.json()["status"] == "erased"
    assert http.get("/v1/members", params={"phone": keep["member"]["phone"]}).json()["items"] == []


def test_member_registers_from_the_app_with_a_one_time_code(platform):
    anonymous = httpx.Client(base_url=platform["base"], timeout=30)
    phone = _phone()
    assert anonymous.post("/v1/auth/member/code", json={"phone": phone, "purpose": "register"}).status_code == 202
    code = _e2e_scalar(platform, "gateway", "SELECT code FROM dev_code_deliveries WHERE phone = :p "
                       "ORDER BY id DESC LIMIT 1", p="+86" + phone)
    body = {"phone": phone, "name": "App Signup", "channel": "app", "birthday": "1995-06-01"}
    assert anonymous.post("/v1/auth/member/register", json={**body, "code": "000000" if code != "000000" else "111111"}
                          ).status_code == 401
    signed_up = anonymous.post("/v1/auth/member/register", json={**body, "code": code})
    assert signed_up.status_code == 201, signed_up.text
    member = signed_up.json()["member"]
    assert member["channel"] == "app" and member["contact_masked"] is False
    token = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}
    assert anonymous.get(f"/v1/members/{member['member_id']}", headers=token).json()["name"] == "App Signup"
    changed = anonymous.patch(f"/v1/members/{member['member_id']}", headers={**token, "If-Match": '"1"'},
                              json={"name": "App Renamed"})
    assert changed.status_code == 200, changed.text
    assert anonymous.post("/v1/auth/member/register", json={**body, "code": code}).status_code == 401  # used once


def test_idempotent_registration_over_the_whole_platform(platform):
    http = platform["http"]
    body = {"name": "Retried Till", "phone": _phone()}
    headers = {"Idempotency-Key": f"sale-{uuid.uuid4()}"}
    first = http.post("/v1/members", json=body, headers=headers)
    again = http.post("/v1/members", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.headers["ETag"] == first.headers["ETag"]
    replayed, original = again.json(), first.json()
    assert replayed["member"]["phone"] is None  # personal data is never kept in idempotency records
    original["member"].update(phone=None, email=None, id_number=None, name=None)
    assert replayed == original
    assert http.post("/v1/members", json={**body, "name": "Changed"}, headers=headers).status_code == 409


def test_audit_chain_of_the_running_platform_verifies(platform):
    verdict = platform["http"].get("/v1/audit/verify").json()
    assert verdict["ok"] is True and verdict["checked"] > 10


def _till(platform, store: str = "SH-001") -> httpx.Client:
    key = platform["http"].post("/v1/api-keys", json={"name": f"points till {store}", "kind": "pos",
                                                       "store": store}).json()["key"]
    return httpx.Client(base_url=platform["base"], headers={"X-API-Key": key}, timeout=30)


def _account(http: httpx.Client, member_id: str) -> dict | None:
    response = http.get(f"/v1/members/{member_id}/points")
    return response.json() if response.status_code == 200 else None


def _ledger(http: httpx.Client, member_id: str) -> list[dict]:
    entries, cursor = [], None
    while True:
        page = http.get(f"/v1/members/{member_id}/points/history",
                        params={"limit": 2} | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        entries += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return entries


def test_points_at_the_till_sale_replay_hold_commit_refund(platform):
    http = platform["http"]
    phone = _phone()
    member = http.post("/v1/members", json={"name": "Points Member", "phone": phone,
                                            "registration_store": "SH-001"}).json()["member"]
    member_id = member["member_id"]
    account = wait_for(lambda: _account(http, member_id), message="points account")
    assert (account["balance"], account["available"], account["tier"], account["status"]) == (0, 0, "normal",
                                                                                              "active")
    sale = {"member_number": member["member_number"], "store": "SH-001", "terminal": "till-3",
            "transaction_id": f"T-{uuid.uuid4().hex[:12]}", "amount": "128.50",
            "sold_at": datetime.now(UTC).isoformat(),
            "items": [{"sku": "MILK-1L", "category": "dairy", "qty": 2, "amount": "28.50"},
                      {"sku": "RICE-5KG", "category": "grocery", "amount": "100.00"}]}
    with _till(platform) as till:
        online = till.get("/v1/points/ping")  # what a POS asks before it leaves offline mode
        assert (online.status_code, online.json()) == (200, {"service": "points", "ok": True}), online.text
        first = till.post("/v1/points/sales", json=sale)
        assert first.status_code == 201, first.text
        receipt = first.json()
        assert (receipt["member_id"], receipt["store"], receipt["transaction_id"]) == (
            member_id, "SH-001", sale["transaction_id"])
        assert receipt["points_earned"] == 128, receipt  # the default program: 1 point per yuan, rounded down
        assert sum(line["points"] for line in receipt["breakdown"]) == 128, receipt["breakdown"]
        assert (receipt["balance"], receipt["available"], receipt["pending"], receipt["tier"]) == (
            128, 128, 0, "normal")
        assert receipt["replayed"] is False
        assert receipt["expiring"] is None or receipt["expiring"]["points"] == 128

        account = _account(http, member_id)
        assert (account["balance"], account["available"], account["held"], account["debt"]) == (128, 128, 0, 0)
        assert _points_of(http, member_id) == {"balance": 128, "tier": "normal", "held": 0, "available": 128}  # agrees

        again = till.post("/v1/points/sales", json=sale)  # the till retries: the first answer, no points twice
        assert again.status_code == 200, again.text
        assert again.json() == {**receipt, "replayed": True}
        assert _account(http, member_id)["balance"] == 128

        by_phone = till.post("/v1/points/sales", json={
            "member_phone": phone, "store": "SH-001", "transaction_id": f"T-{uuid.uuid4().hex[:12]}",
            "amount": "20.00", "sold_at": datetime.now(UTC).isoformat()})
        assert by_phone.status_code == 201, by_phone.text
        assert (by_phone.json()["member_id"], by_phone.json()["points_earned"], by_phone.json()["balance"]) == (
            member_id, 20, 148)
        unknown = till.post("/v1/points/sales", json={**sale, "member_number": None, "member_phone": _phone()})
        assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "member_phone"
        elsewhere = till.post("/v1/points/sales", json={**sale, "store": "BJ-001"})
        assert elsewhere.status_code == 403

        hold_body = {"member_id": member_id, "store": "SH-001", "transaction_id": f"T-{uuid.uuid4().hex[:12]}",
                     "points": 50}
        held = till.post("/v1/points/holds", json=hold_body)
        assert held.status_code == 201, held.text
        hold = held.json()
        assert (hold["status"], hold["points"], hold["balance"], hold["available"]) == ("held", 50, 148, 98)
        assert till.post("/v1/points/holds", json=hold_body).json()["hold_id"] == hold["hold_id"]  # idempotent
        too_much = till.post("/v1/points/holds", json={**hold_body, "transaction_id": "T-too-much", "points": 99})
        assert too_much.status_code == 409, too_much.text
        assert too_much.json()["error"]["code"] == "insufficient_points"
        committed = till.post(f"/v1/points/holds/{hold['hold_id']}/commit")
        assert committed.status_code == 200, committed.text
        assert (committed.json()["status"], committed.json()["balance"], committed.json()["available"]) == (
            "committed", 98, 98)

        other = till.post("/v1/points/holds", json={**hold_body, "transaction_id": f"T-{uuid.uuid4().hex[:12]}",
                                                    "points": 30}).json()
        released = till.post(f"/v1/points/holds/{other['hold_id']}/release")
        assert released.status_code == 200 and released.json()["status"] == "released", released.text
        assert _account(http, member_id)["available"] == 98

        refund = {"store": "SH-001", "refund_id": f"R-{uuid.uuid4().hex[:12]}",
                  "transaction_id": sale["transaction_id"], "amount": "64.25",
                  "refunded_at": datetime.now(UTC).isoformat()}
        refunded = till.post("/v1/points/refunds", json=refund)
        assert refunded.status_code == 201, refunded.text
        assert (refunded.json()["points_reversed"], refunded.json()["points_uncovered"],
                refunded.json()["balance"]) == (64, 0, 34), refunded.json()  # half the sale, half its points
        replayed = till.post("/v1/points/refunds", json=refund)
        assert replayed.status_code == 200 and replayed.json()["replayed"] is True
        assert replayed.json()["balance"] == 34

    ledger = _ledger(http, member_id)
    assert sum(entry["points"] for entry in ledger) == _account(http, member_id)["balance"] == 34
    kinds = sorted(entry["kind"] for entry in ledger if entry["points"])
    assert kinds == ["accrual", "accrual", "redemption", "reversal"], ledger


def test_register_at_the_till_and_sell_at_once_every_time(platform):
    """The commonest checkout: sign up and earn on this purchase, with no wait and no retry."""
    with _till(platform) as till:
        for n in range(25):
            registered = till.post("/v1/members", json={"name": "Till Signup", "phone": _phone()})
            assert registered.status_code == 201, registered.text
            member = registered.json()["member"]
            ref = {"member_number": member["member_number"]} if n % 2 else {"member_id": member["member_id"]}
            sold = till.post("/v1/points/sales", json={**ref, "store": "SH-001", "transaction_id": f"SU-{n}-"
                                                       f"{uuid.uuid4().hex[:8]}", "amount": "88.00",
                                                       "sold_at": datetime.now(UTC).isoformat()})
            assert sold.status_code == 201, (n, sold.text)
            assert sold.json()["member_id"] == member["member_id"] and sold.json()["points_earned"] == 88
        unknown = till.post("/v1/points/sales", json={"member_id": str(uuid.uuid4()), "store": "SH-001",
                                                      "transaction_id": f"SU-x-{uuid.uuid4().hex[:8]}",
                                                      "amount": "8.00", "sold_at": datetime.now(UTC).isoformat()})
        assert unknown.status_code == 404 and unknown.json()["error"]["message"].startswith("unknown member")
        typo = till.post("/v1/points/sales", json={"member_number": "800000000017", "store": "SH-001",
                                                   "transaction_id": f"SU-y-{uuid.uuid4().hex[:8]}",
                                                   "amount": "8.00", "sold_at": datetime.now(UTC).isoformat()})
        assert typo.status_code == 422 and typo.json()["error"]["field"] == "member_number"


def test_points_for_staff_adjustment_audited_program_report_and_job(platform):
    http = platform["http"]
    member_id = http.post("/v1/members", json={"name": "Adjusted", "phone": _phone(),
                                               "registration_store": "SH-001"}).json()["member"]["member_id"]
    wait_for(lambda: _account(http, member_id), message="points account")
    key = {"Idempotency-Key": f"adjust-{uuid.uuid4()}"}
    body = {"points": 25, "reason": "goodwill: late delivery", "store": "SH-001"}
    adjusted = http.post(f"/v1/members/{member_id}/points/adjustments", json=body, headers=key)
    assert adjusted.status_code == 201, adjusted.text
    assert adjusted.json()["balance"] == 25 and adjusted.json()["entry"]["kind"] == "adjustment"
    retried = http.post(f"/v1/members/{member_id}/points/adjustments", json=body, headers=key)
    assert retried.headers.get("Idempotent-Replayed") == "true" and retried.json() == adjusted.json()
    assert _account(http, member_id)["balance"] == 25
    audited = http.get("/v1/audit", params={"action": "points.adjusted", "object_id": member_id}).json()["items"]
    assert len(audited) == 1 and audited[0]["details"]["points"] == 25
    assert audited[0]["details"]["reason"] == "goodwill: late delivery"

    program = http.get("/v1/points/program")
    assert program.status_code == 200, program.text
    assert program.json()["version"] >= 1 and "CNY" in program.json()["program"]["rates"]
    today = datetime.now(UTC).date().isoformat()
    liability = http.get("/v1/points/reports/liability", params={"from": today, "to": today, "store": "SH-001"})
    assert liability.status_code == 200, liability.text
    assert all(row["store"] == "SH-001" for row in liability.json()["items"])
    job = http.post("/v1/points/jobs/holds")
    assert job.status_code == 200 and job.json()["job"] == "holds", job.text


def test_a_segment_fed_by_events_and_a_campaign_with_results_over_the_whole_platform(platform):
    http = platform["http"]
    store = f"SEG-{uuid.uuid4().hex[:6].upper()}"
    ids = []
    for i in range(3):
        created = http.post("/v1/members", json={"name": "Segment Member", "phone": _phone(),
                                                 "registration_store": store, "gender": "female" if i else "male",
                                                 "tags": ["vip"] if i else []})
        assert created.status_code == 201, created.text
        ids.append(created.json()["member"]["member_id"])
    wait_for(lambda: _points_of(http, ids[0]), message="points account")
    sale = {"member_id": ids[0], "store": store, "transaction_id": f"T-{uuid.uuid4().hex[:12]}", "amount": "88.00",
            "sold_at": datetime.now(UTC).isoformat()}
    assert http.post("/v1/points/sales", json=sale).status_code == 201

    def size(rule: dict) -> int:
        response = http.post("/v1/segments/preview", json={"rule": rule})
        assert response.status_code == 200, response.text
        return int(response.json()["size"])

    mine = {"field": "store", "op": "eq", "value": store}
    wait_for(lambda: size(mine) == 3, message="members in campaigns' read model (by events)")
    wait_for(lambda: size({"all": [mine, {"field": "spend", "op": "gte", "value": "88", "window_days": 30}]}) == 1,
             message="the sale in the read model")
    assert size({"all": [mine, {"field": "tags", "op": "has", "value": "vip"},
                         {"field": "gender", "op": "eq", "value": "female"}]}) == 2
    bad = http.post("/v1/segments", json={"name": "bad", "rule": {"all": [{"field": "shoe_size", "op": "eq",
                                                                             "value": 42}]}})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "rule.all.0.field"

    segment = http.post("/v1/segments", json={"name": "E2E segment", "rule": mine})
    assert segment.status_code == 201, segment.text
    now = datetime.now(UTC)
    campaign = http.post("/v1/campaigns", json={
        "name": "E2E bonus", "type": "points_bonus", "segment_id": segment.json()["segment_id"],
        "starts_at": now.isoformat(), "ends_at": now.replace(year=now.year + 1).isoformat(), "points_per_sale": 5,
        "stores": [store], "control_share": "0", "channel": "sms", "template": "campaign.bonus"})
    assert campaign.status_code == 201, campaign.text
    cid = campaign.json()["campaign_id"]
    assert http.post(f"/v1/campaigns/{cid}/status", json={"status": "running"}).status_code == 409
    for status in ("scheduled", "running"):
        moved = http.post(f"/v1/campaigns/{cid}/status", json={"status": status})
        assert moved.status_code == 200 and moved.json()["status"] == status, moved.text
    results = http.get(f"/v1/campaigns/{cid}/results").json()
    assert results["total"]["reached"] == 3 and results["total"]["control"] == 0
    history = http.get(f"/v1/campaigns/{cid}/history").json()["items"]
    assert [h["to_status"] for h in history] == ["draft", "scheduled", "running"]
    assert {h["actor"] for h in history} == {history[0]["actor"]} and history[0]["actor"].startswith("staff:")


# ~170 operations: it runs beside the green lane, so it gets twice the suite's per-test timeout
@pytest.mark.timeout(600)
def test_schemathesis_finds_nothing(platform, tmp_path):
    """Property-based requests from the OpenAPI document (bounded): no server error, every status
    and content type documented, responses match their schemas, bad data refused.

    Excluded: the login form (repeated wrong passwords would lock the admin this suite uses), the
    member import (its rows are checked one by one and refused per row, which a body schema cannot
    say; tests/gateway/test_import_files.py fuzzes it with odd files), the files adapter's upload (a raw
    CSV, JSON Lines or XLSX body, which schemathesis cannot generate; tests/gateway/test_files_routes.py), the
    WeChat login (it needs WeChat's code2Session, which this platform is not configured for; its tests run
    against the local WeChat server, tests/service/test_notify_vendors.py) and
    the check that schema-valid data is always accepted, which cannot hold for opaque cursors
    and for rules a schema cannot express (a phone number's format per country).
    """
    token = platform["http"].headers["Authorization"]
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", platform["base"] + "/openapi.json",
         "-H", f"Authorization: {token}", "--max-examples", "12", "--workers", "2", "--seed", "20261123",
         "--generation-database", "none", "--exclude-path", "/v1/auth/token", "--exclude-path", "/v1/members/imports",
         "--exclude-path", "/v1/files/uploads", "--exclude-path", "/v1/auth/wechat",
         "--exclude-checks", "positive_data_acceptance", "--no-color", "--request-timeout", "15"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    failures = result.stdout.find("\n___")  # the failures, each under its operation, before the summary
    assert result.returncode == 0, result.stdout[max(failures, 0):][:12000] + result.stderr[-2000:]
