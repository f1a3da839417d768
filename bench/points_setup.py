"""Set-up of bench.points (members imported, their accounts opened, a POS key per store) and a
second points process started as the Procfile starts one."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import httpx

from bench.platform import ROOT
from bench.points_fleet import Fleet
from tests.ports import free_port


def rpc_consumers(env: dict[str, str], queue: str = "rpc-points") -> int:
    vhost = urllib.parse.quote(env["AMQP_URI"].rsplit("/", 1)[1], safe="")
    request = urllib.request.Request(f"http://127.0.0.1:15672/api/queues/{vhost}/{queue}", headers={
        "Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(json.loads(response.read()).get("consumers", 0))
    except OSError:
        return -1


def start_second_points(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Another `python -m service_runtime.runner points` as the Procfile starts it, with the same
    environment less the other processes' secrets, and a metrics port of its own."""
    child = {k: v for k, v in env.items() if not k.startswith(("MEMBERS_ENCRYPTION", "MEMBERS_ACTIVE_KEY",
                                                              "MEMBERS_BLIND", "GATEWAY_JWT", "BOOTSTRAP_ADMIN"))}
    child.update({"POINTS_METRICS_PORT": str(free_port()), "PYTHONUNBUFFERED": "1",
                  "PYTHONPATH": str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")})
    log = (Path(env["VAR_DIR"]) / "log" / "points-2.log").open("ab")
    before = rpc_consumers(env)
    process = subprocess.Popen([sys.executable, "-m", "service_runtime.runner", "points"], cwd=ROOT, env=child,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the second points process exited ({process.returncode}); see {log.name}")
        consumers = rpc_consumers(env)
        if before >= 0 and consumers > before:
            time.sleep(1)  # its pools warm up on the first calls; let it settle
            return process
        if before < 0 and time.monotonic() > deadline - 50:  # no management API: give it ten seconds
            return process
        time.sleep(0.5)
    stop_process(process)
    raise SystemExit("the second points process did not start consuming within 60 s")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ---- set-up: members, accounts, keys ----------------------------------------------------
def points_engine() -> Any:
    import sqlalchemy as sa

    from service_runtime.config import database_url

    return sa.create_engine(database_url("points"), pool_size=2)


def import_members(base: str, token: str, var: Path, count: int, stores: list[str]) -> None:
    path = var / "bench-points-members.csv"
    with path.open("w", encoding="utf-8") as out:
        out.write("external_id,name,phone,registration_store\n")
        for i in range(count):
            out.write(f"P{i},Member {i},137{i:08d},{stores[i % len(stores)]}\n")
    auth = {"Authorization": f"Bearer {token}"}
    with path.open("rb") as body:
        job = httpx.post(base + "/v1/members/imports", content=body, timeout=600,
                         headers={**auth, "Content-Type": "text/csv"}, params={"source": "bench-points"}).json()
    while job.get("status") == "running":
        time.sleep(0.5)
        job = httpx.get(f"{base}/v1/members/imports/{job['job_id']}", headers=auth).json()
    if job.get("rows_created") != count:
        raise SystemExit(f"member import did not create {count} members: {job}")


def wait_for_accounts(engine: Any, count: int, timeout: float = 1800) -> list[str]:
    import sqlalchemy as sa

    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with engine.connect() as conn:
            opened = conn.execute(sa.text("SELECT count(*) FROM accounts")).scalar_one()
        if opened >= count:
            with engine.connect() as conn:
                return [str(r[0]) for r in conn.execute(sa.text("SELECT member_id FROM accounts ORDER BY member_id"))]
        time.sleep(1)
    raise SystemExit(f"points opened {opened} of {count} accounts in {timeout:.0f} s")


def create_keys(base: str, token: str, stores: list[str]) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {token}"}
    keys = {}
    for store in stores:
        response = httpx.post(base + "/v1/api-keys", headers=auth, json={
            "name": f"{store} tills", "kind": "pos", "store": store})
        if response.status_code != 201:
            raise SystemExit(f"creating the POS key of {store}: {response.status_code} {response.text}")
        keys[store] = response.json()["key"]
    return keys


def ready_fleet(base: str, token: str, env: dict[str, str], rng: Any, stores: list[str], members: int,
                terminals: int = 4) -> tuple[Fleet, Any]:
    """``members`` imported over ``stores``, their points accounts open, one POS key a store: the
    tills (``terminals`` a store) and an engine on points' database for the audit."""
    import_members(base, token, Path(env["VAR_DIR"]), members, stores)
    engine = points_engine()
    fleet = Fleet(rng, stores, terminals, wait_for_accounts(engine, members))
    fleet.keys = create_keys(base, token, stores)
    return fleet, engine


def check_accounts_answer(base: str, token: str, fleet: Fleet) -> None:
    """GET /v1/members/{id}/points answers for members before any sale (as staff and as a till)."""
    for member in fleet.rng.sample(fleet.members, 5):
        for who, headers in (("admin", {"Authorization": f"Bearer {token}"}),
                             ("POS key", {"X-API-Key": fleet.keys[fleet.stores[0]]})):
            response = httpx.get(f"{base}/v1/members/{member}/points", headers=headers, timeout=30)
            if response.status_code != 200:
                raise SystemExit(f"GET /v1/members/{member}/points as {who}: {response.status_code} {response.text}")

