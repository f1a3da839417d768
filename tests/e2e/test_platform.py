"""End to end: the platform started as `make run` starts it, driven over HTTP.

Runs on its own databases (prefix loyalty_e2e_) and AMQP virtual host (loyalty_e2e),
with its own ports, so it never touches a platform a developer has running.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from service_runtime import bootstrap
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = [sys.executable, str(ROOT / "deploy" / "local" / "platform.py")]
E2E_AMQP = "amqp://guest:guest@127.0.0.1:5672/loyalty_e2e"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("platform")
    env = dict(os.environ)
    env.update({
        "VAR_DIR": str(var), "DB_NAME_PREFIX": "loyalty_e2e_", "AMQP_URI": E2E_AMQP,
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(_free_port()), "OTEL_TRACES_EXPORTER": "jsonfile",
        "TRACE_FILE_DIR": str(var / "traces"), "DEMO_DATA": "0", "RPC_TIMEOUT_SECONDS": "10",
    })
    for service in ("members", "points", "campaigns", "notify"):
        env[f"{service.upper()}_METRICS_PORT"] = str(_free_port())
    bootstrap.delete_vhost(E2E_AMQP)
    subprocess.run([sys.executable, "-m", "service_runtime.bootstrap", "--drop"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    started = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    assert f"Gateway:  {base}" in started.stdout and f"API docs: {base}/docs" in started.stdout
    with httpx.Client(base_url=base, timeout=30) as http:
        yield {"http": http, "env": env, "var": var, "started": started.stdout}
    stopped = subprocess.run(PLATFORM + ["stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    pids = [int(line.split("pid ")[1].split(",")[0]) for line in started.stdout.splitlines() if "(pid " in line]
    assert pids and not any(Path(f"/proc/{pid}").exists() and
                            Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z" for pid in pids)


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
    assert points == {"balance": 0, "tier": "normal"}
    again = http.post("/v1/members", json={"name": "Someone Else", "phone": member["phone"]})
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["member"]["member_id"] == member["member_id"]


@pytest.mark.parametrize("body, field", [
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


def _count_members(platform) -> int:
    import sqlalchemy as sa

    url = f"postgresql://postgres:postgres@127.0.0.1:5432/{platform['env']['DB_NAME_PREFIX']}members"
    engine = sa.create_engine(os.environ.get("E2E_MEMBERS_DB", url), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM members")).scalar_one()
    engine.dispose()
    return int(count)


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
    assert "loyalty_http_requests_total" in http.get("/metrics/").text
    members_metrics = httpx.get(f"http://127.0.0.1:{env['MEMBERS_METRICS_PORT']}/metrics").text
    assert 'loyalty_entrypoint_calls_total{kind="rpc",method="register"' in members_metrics
    assert "loyalty_outbox_backlog" in members_metrics


def test_second_start_says_it_is_running_instead_of_starting_twins(platform):
    again = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=platform["env"], capture_output=True, text=True,
                           timeout=60)
    assert again.returncode == 0
    assert "already running" in again.stdout


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None or os.geteuid() != 0,
                    reason="restarting the broker needs rabbitmqctl as root")
def test_broker_restart_loses_no_registration(platform):
    http = platform["http"]
    response = http.post("/v1/members", json={"name": "Before Restart", "phone": _phone()})
    assert response.status_code == 201
    member_id = response.json()["member"]["member_id"]
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)

    def points_after_restart() -> object:
        try:
            response = http.get(f"/v1/members/{member_id}")
        except httpx.HTTPError:
            return None
        return response.status_code == 200 and response.json()["points"]

    assert wait_for(points_after_restart, timeout=90, interval=0.5, message="account after broker restart") == {
        "balance": 0, "tier": "normal"}
    wait_for(lambda: http.get("/readyz").status_code == 200, timeout=60, interval=0.5, message="ready again")
    after = http.post("/v1/members", json={"name": "After Restart", "phone": _phone()})
    assert after.status_code == 201, after.text
