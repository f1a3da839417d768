"""Operations tests: one platform started like `make run` (own VAR_DIR, ports, databases and
AMQP virtual host), shared by every test in this folder that needs it."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service_runtime import bootstrap
from service_runtime.config import metrics_port_settings
from tests.conftest import E2E_VHOST
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = [sys.executable, str(ROOT / "deploy" / "local" / "platform.py")]
OPS_VHOST = E2E_VHOST.replace("loyalty_e2e", "loyalty_ops")




def login(base: str, username: str, password: str) -> str:
    response = httpx.post(base + "/v1/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture(scope="session")
def ops_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    var = tmp_path_factory.mktemp("ops-platform")
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{OPS_VHOST}"
    env = dict(os.environ)
    env.update({
        "VAR_DIR": str(var), "DB_NAME_PREFIX": OPS_VHOST + "_", "AMQP_URI": amqp,
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(free_port()), "OTEL_TRACES_EXPORTER": "none",
        "DEMO_DATA": "1", "RPC_TIMEOUT_SECONDS": "10",
        "BOOTSTRAP_ADMIN_USER": "ops-admin", "BOOTSTRAP_ADMIN_PASSWORD": secrets.token_urlsafe(16),
        "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48), "GATEWAY_JWT_SECRET_CREATED": str(int(time.time())),
        "OTP_DELIVERY": "dev",
        "RATE_LIMIT_STAFF": "500/1000", "RATE_LIMIT_IP": "500/1000", "NOTIFY_POINTS_RECEIPTS": "true",
    })
    env.update({setting: str(free_port()) for setting in metrics_port_settings()})
    bootstrap.empty_vhost(amqp)
    subprocess.run([sys.executable, "-m", "service_runtime.bootstrap", "--drop"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    started = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout + started.stderr
    base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    token = login(base, "ops-admin", env["BOOTSTRAP_ADMIN_PASSWORD"])
    try:
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            yield {"http": http, "env": env, "var": var, "base": base}
    finally:
        subprocess.run(PLATFORM + ["stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
