"""The platform of the fault suite, started once for every fault test: `make run`'s supervisor
and processes on a private RabbitMQ node and a private PostgreSQL cluster (never the shared ones),
24 members registered, a POS key for the tills, and notify sending points receipts (so every sale's
event has a second consumer to audit)."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid

import httpx
import pytest

from service_runtime.config import metrics_port_settings
from tests.faults.audit import MEMBERS, PLATFORM, ROOT, STORE
from tests.faults.nodes import PgCluster, RabbitNode
from tests.helpers import wait_for
from tests.ports import free_port


@pytest.fixture(scope="session")
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
        "NOTIFY_POINTS_RECEIPTS": "true",
    })
    env.update({setting: str(free_port()) for setting in metrics_port_settings()})
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


