"""Faults without a human: the platform started as `make run` starts it, on a private RabbitMQ
node and a private PostgreSQL cluster, with tills selling through the gateway while the broker
is stopped or killed, the database restarted, the points process killed or stalled.

After each fault, the audit: every acknowledged sale recorded and credited exactly once (the
tills retried with the same transaction id), ledger sums equal balances, the read models of
campaigns and members caught up by events, /healthz answered 200 throughout, no 500, and no
process restarted except by the supervisor. Each fault's figures are printed (FAULT lines).
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.faults import load
from tests.faults.nodes import PgCluster, RabbitNode, available, free_port
from tests.helpers import wait_for

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = [sys.executable, str(ROOT / "deploy" / "local" / "platform.py")]
STORE = "FLT-001"
TILLS, RATE = 16, 40.0  # sales/s through the gateway, one sale at a time per till
MEMBERS = 24

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

_expected_restarts: dict[str, int] = {}


@pytest.fixture(scope="module")
def platform(tmp_path_factory, pytestconfig):
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:  # the figures belong in the run's output, not in captured stdout
        with capture.global_and_fixture_disabled():
            print(line, flush=True)
    base = tmp_path_factory.mktemp("faults")
    tag = "".join(ch for ch in os.environ.get("LOYALTY_TEST_TAG", "") if ch.isalnum()).lower()
    (base / "rabbit").mkdir()
    rabbit = RabbitNode(base / "rabbit", tag)
    pg = PgCluster()
    rabbit.start()
    pg.start()
    var = base / "var"
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_DATABASE_URL", "_METRICS_PORT"))}
    env.update({
        "VAR_DIR": str(var), "DB_NAME_PREFIX": "faults_", "AMQP_URI": rabbit.uri, "PG_ADMIN_URL": pg.url,
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(free_port()), "OTEL_TRACES_EXPORTER": "none",
        "DEMO_DATA": "0", "BOOTSTRAP_ADMIN_USER": "faults-admin", "BOOTSTRAP_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48), "OTP_DELIVERY": "dev",
        "RATE_LIMIT_STAFF": "2000/4000", "RATE_LIMIT_IP": "2000/4000", "RATE_LIMIT_KEY": "2000/4000",
    })
    for service in ("members", "points", "campaigns", "notify"):
        env[f"{service.upper()}_METRICS_PORT"] = str(free_port())
    try:
        subprocess.run([sys.executable, "-m", "service_runtime.bootstrap", "--drop"], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=120)
        started = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, started.stdout + started.stderr
        gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        token = httpx.post(gateway + "/v1/auth/token", data={"username": "faults-admin",
                                                             "password": env["BOOTSTRAP_ADMIN_PASSWORD"]})
        assert token.status_code == 200, token.text
        admin = httpx.Client(base_url=gateway, timeout=30,
                             headers={"Authorization": f"Bearer {token.json()['access_token']}"})
        key = admin.post("/v1/api-keys", json={"name": "fault till", "kind": "pos", "store": STORE})
        assert key.status_code == 201, key.text
        members = []
        for _ in range(MEMBERS):
            phone = "135" + str(uuid.uuid4().int)[:8]
            created = admin.post("/v1/members", json={"name": "Fault Member", "phone": phone,
                                                      "registration_store": STORE})
            assert created.status_code == 201, created.text
            members.append(created.json()["member"]["member_id"])
        for member_id in members:
            wait_for(lambda m=member_id: admin.get(f"/v1/members/{m}/points").status_code == 200, timeout=60,
                     interval=0.2, message="points accounts")
        yield {"env": env, "var": var, "base": gateway, "admin": admin, "key": key.json()["key"],
               "token": token.json()["access_token"], "members": members, "rabbit": rabbit, "pg": pg, "say": say}
        admin.close()
    finally:
        subprocess.run(PLATFORM + ["stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
        rabbit.stop()
        pg.destroy()


def _db(platform, service: str) -> sa.Engine:
    return sa.create_engine(f"{platform['pg'].url.rsplit('/', 1)[0]}/faults_{service}", poolclass=sa.pool.NullPool)


def _rows(platform, service: str, sql: str, **params: Any) -> list[Any]:
    engine = _db(platform, service)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


def _restarts(platform) -> dict[str, int]:
    state = json.loads((platform["var"] / "run" / "supervisor.json").read_text())
    return {name: int(value.get("restarts", 0)) for name, value in state.items()}


def _fault(platform, name: str, inject, seconds_after: float = 8.0) -> dict[str, Any]:
    run, began, ended = asyncio.run(load.drive(
        platform["base"], platform["key"], platform["token"], STORE, platform["members"], TILLS, RATE,
        seconds_before=3.0, inject=inject, seconds_after=seconds_after, prefix=name))
    figures = load.figures(run, began, ended)
    figures["duplicates"] = _audit(platform, run)
    line = " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in figures.items())
    with (platform["var"].parent / "figures.txt").open("a") as out:
        out.write(f"FAULT {name} {json.dumps(figures)}\n")
    platform["say"](f"FAULT {name} {line}")
    platform["say"](f"BENCH faults_{name}_503_p50 {figures['503_p50_s']} s")
    platform["say"](f"BENCH faults_{name}_recovery {figures['recovery_s']} s")
    statuses = {str(a.status) for a in run.attempts()}
    assert statuses <= {"200", "201", "503", "504"}, figures  # no 500, no broken connection
    assert figures["healthz"] == ["200"], figures
    assert figures["sales"] == figures["acked"], figures  # every till got its sale through in the end
    assert _restarts(platform) == {n: _expected_restarts.get(n, 0) for n in _restarts(platform)}, \
        "only the supervisor restarts a process, and only one that died"
    return figures


def _audit(platform, run: load.Run) -> int:
    """Each acknowledged sale recorded once and credited once; ledgers equal balances; read models caught up."""
    ids = [s.transaction_id for s in run.sales]
    acked = {s.transaction_id for s in run.sales if s.acked}
    recorded = {r[0]: r[1] for r in _rows(platform, "points", "SELECT transaction_id, points FROM sales "
                                          "WHERE store = :store AND transaction_id = ANY(:ids)", store=STORE, ids=ids)}
    assert acked <= set(recorded), f"acknowledged but not recorded: {sorted(acked - set(recorded))[:5]}"
    refs = [f"{STORE}:{i}" for i in ids]
    credits = _rows(platform, "points", "SELECT reference, count(*) FROM ledger WHERE kind = 'accrual' "
                    "AND reference = ANY(:refs) GROUP BY reference", refs=refs)
    duplicates = sum(1 for _, count in credits if count > 1)
    assert duplicates == 0, [c for c in credits if c[1] > 1][:5]
    assert len(credits) == sum(1 for p in recorded.values() if p > 0)
    unequal = _rows(platform, "points", "SELECT a.member_id, a.balance, coalesce(sum(l.delta), 0) FROM accounts a "
                    "LEFT JOIN ledger l USING (member_id) GROUP BY a.member_id, a.balance "
                    "HAVING a.balance <> coalesce(sum(l.delta), 0)")
    assert not unequal, unequal[:5]

    def campaigns_caught_up() -> bool:
        sold = _rows(platform, "points", "SELECT count(*) FROM sales WHERE store = :store", store=STORE)[0][0]
        seen = _rows(platform, "campaigns", "SELECT coalesce(sum(purchases), 0) FROM rm_purchases "
                     "WHERE store = :store", store=STORE)[0][0]
        return bool(sold == seen)

    wait_for(campaigns_caught_up, timeout=90, interval=0.5, message="campaigns' read model caught up with the sales")
    def outboxes_drained() -> bool:
        return all(_rows(platform, service, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0] == 0
                   for service in ("members", "points", "campaigns", "notify"))

    wait_for(outboxes_drained, timeout=90, interval=0.5, message="every outbox published")

    def members_caught_up() -> bool:
        registered = _rows(platform, "members", "SELECT count(*) FROM members")[0][0]
        return bool(registered == _rows(platform, "campaigns", "SELECT count(*) FROM rm_members")[0][0]
                    == _rows(platform, "points", "SELECT count(*) FROM accounts")[0][0])

    wait_for(members_caught_up, timeout=90, interval=0.5, message="registrations in points' and campaigns' models")
    return duplicates


def _registered_then_account(platform) -> str:
    created = platform["admin"].post("/v1/members", json={"name": "Around A Fault",
                                                          "phone": "135" + str(uuid.uuid4().int)[:8]})
    assert created.status_code == 201, created.text
    return str(created.json()["member"]["member_id"])


def _has_account(platform, member_id: str) -> bool:
    try:
        return platform["admin"].get(f"/v1/members/{member_id}/points").status_code == 200
    except httpx.HTTPError:
        return False


def test_broker_stopped_and_started_under_load(platform):
    before = _registered_then_account(platform)

    def bounce() -> None:
        platform["rabbit"].ctl("stop_app")
        time.sleep(10)
        platform["rabbit"].ctl("start_app")

    _fault(platform, "broker_stop_app", bounce)
    # the registration from before the outage reached points (moved here from the e2e suite)
    wait_for(lambda: _has_account(platform, before), timeout=90, interval=0.5, message="account after the bounce")
    wait_for(lambda: platform["admin"].get("/readyz").status_code == 200, timeout=60, interval=0.5,
             message="ready again")
    after = _registered_then_account(platform)
    wait_for(lambda: _has_account(platform, after), timeout=30, interval=0.2, message="account after the bounce")


def test_broker_killed_hard_under_load(platform):
    def kill() -> None:
        platform["rabbit"].kill_hard()
        time.sleep(5)
        platform["rabbit"].start()

    _fault(platform, "broker_kill9", kill)


def test_database_restarted_under_load(platform):
    seen: dict[str, Any] = {}

    def restart() -> None:
        platform["pg"].stop()
        time.sleep(2)
        login = httpx.post(platform["base"] + "/v1/auth/token", timeout=10,
                           data={"username": "faults-admin", "password": platform["env"]["BOOTSTRAP_ADMIN_PASSWORD"]})
        seen["login"] = (login.status_code, login.headers.get("Retry-After"))
        time.sleep(6)
        platform["pg"].start()

    _fault(platform, "postgres_restart", restart)
    assert seen["login"][0] == 503 and seen["login"][1], seen  # staff login: 503 + Retry-After, not 500


def _pid(platform, name: str) -> int:
    return int((platform["var"] / "run" / f"{name}.pid").read_text())


def test_points_killed_is_restarted_by_the_supervisor(platform):
    old = _pid(platform, "points")

    def kill() -> None:
        os.kill(old, signal.SIGKILL)
        _expected_restarts["points"] = _expected_restarts.get("points", 0) + 1
        wait_for(lambda: _pid(platform, "points") != old, timeout=60, interval=0.2, message="points restarted")

    _fault(platform, "points_sigkill", kill, seconds_after=12.0)
    status = subprocess.run(PLATFORM + ["status"], cwd=ROOT, env=platform["env"], capture_output=True, text=True)
    assert "restarted 1 time(s)" in status.stdout, status.stdout
    assert "restarted points" in (platform["var"] / "log" / "supervisor.log").read_text()


def test_points_stalled_other_routes_answer(platform):
    pid = _pid(platform, "points")

    def stall() -> None:
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(6)
        finally:
            os.kill(pid, signal.SIGCONT)

    figures = _fault(platform, "points_stalled", stall)
    assert figures["other_route"] == ["200"], figures  # members answered while points did not
