"""A platform started as `make run` starts it (deploy/local/platform.py), on its own databases,
AMQP virtual host, ports and VAR_DIR (logs, traces, secrets), for an end-to-end module."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from service_runtime import bootstrap
from service_runtime.config import metrics_port_settings
from tests.conftest import E2E_VHOST
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = [sys.executable, str(ROOT / "deploy" / "local" / "platform.py")]



@contextmanager
def running_platform(var: Path, name: str, **overrides: str) -> Iterator[dict[str, Any]]:
    """Start a platform named ``name`` (vhost and database prefix loyalty_e2e[_tag]_<name>), yield its
    environment, base URL and start output, and stop it. Secrets the environment does not give are
    generated into ``var``/secrets as `make run` does."""
    vhost = f"{E2E_VHOST}_{name}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOOTSTRAP_ADMIN_", "NOTIFY_"))}
    env.update({
        "VAR_DIR": str(var), "DB_NAME_PREFIX": vhost + "_", "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
        "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(free_port()), "OTEL_TRACES_EXPORTER": "jsonfile",
        "TRACE_FILE_DIR": str(var / "traces"), "DEMO_DATA": "1", "RPC_TIMEOUT_SECONDS": "10",
        "RATE_LIMIT_STAFF": "500/1000", "RATE_LIMIT_IP": "500/1000",
    })
    env.update({setting: str(free_port()) for setting in metrics_port_settings()})
    env.update(overrides)
    bootstrap.empty_vhost(env["AMQP_URI"])
    subprocess.run([sys.executable, "-m", "service_runtime.bootstrap", "--drop"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)
    started = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"env": env, "var": var, "base": f"http://127.0.0.1:{env['GATEWAY_PORT']}", "started": started.stdout}
    finally:
        stopped = subprocess.run(PLATFORM + ["stop"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@contextmanager
def platform_with_admin(var: Path, name: str, **overrides: str) -> Iterator[dict[str, Any]]:
    """``running_platform`` and an httpx client logged in as its first admin (``http``)."""
    import httpx

    with running_platform(var, name, **overrides) as running:
        password = (var / "secrets" / "admin-password").read_text().strip()
        token = httpx.post(running["base"] + "/v1/auth/token", data={"username": "admin", "password": password}
                           ).json()["access_token"]
        with httpx.Client(base_url=running["base"], timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            yield {**running, "http": http}
