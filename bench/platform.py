"""Start and stop the platform for a benchmark, as `make run` does, on its own databases,
virtual host and ports; print figures as `BENCH <name> <value> <unit>` lines."""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from service_runtime.config import metrics_port_settings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
PLATFORM = [sys.executable, str(ROOT / "deploy" / "local" / "platform.py")]


@contextmanager
def profiled(var: Path, phase: str) -> Iterator[None]:
    """With ``BENCH_PYSPY=gateway,members`` (and ``pip install py-spy``): sample those platform
    processes during the phase into ``<temp dir>/loyalty-pyspy-<phase>-<process>.txt`` (py-spy's
    raw format: one stack and its count a line; kept after the run) and say where they are."""
    names = [n for n in os.environ.get("BENCH_PYSPY", "").split(",") if n]
    spy = Path(sys.executable).with_name("py-spy")
    recorders = []
    for name in names if spy.exists() else []:
        pid = (var / "run" / f"{name}.pid").read_text().strip()
        slug = "".join(ch if ch.isalnum() else "-" for ch in phase).strip("-")
        out = Path(tempfile.gettempdir()) / f"loyalty-pyspy-{slug}-{name}.txt"
        recorders.append((out, subprocess.Popen([str(spy), "record", "-p", pid, "-r", "100", "-f", "raw", "-o",
                                                 str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    if names and not spy.exists():
        print("# BENCH_PYSPY set but py-spy is not installed in this venv: pip install py-spy", flush=True)
    try:
        yield
    finally:
        for out, recorder in recorders:
            recorder.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            recorder.wait(timeout=60)
            print(f"# py-spy profile of {phase}: {out}", flush=True)


def bench(name: str, value: float, unit: str) -> None:
    print(f"BENCH {name} {value:.1f} {unit}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@contextmanager
def running_platform(name: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(gateway base URL, admin access token, environment) of a fresh platform for one benchmark.
    With BENCH_VAR_DIR set, its data is kept: the first run there starts afresh and leaves its
    secrets (data keys, the admin's password) in that directory; later runs reuse the databases,
    so two versions of the code are measured on the same million members without importing twice."""
    tag = "".join(ch for ch in os.environ.get("LOYALTY_TEST_TAG", "") if ch.isalnum())
    name = f"{name}_{tag}" if tag else name  # two checkouts benchmarking at once: their own databases and vhost
    kept = os.environ.get("BENCH_VAR_DIR")
    var = Path(kept) if kept else Path(tempfile.mkdtemp(prefix=f"loyalty-bench-{name}-"))
    password_file = var / "secrets" / "bench-admin-password"
    reuse = kept is not None and password_file.exists()
    env = dict(os.environ)
    env.update({"VAR_DIR": str(var), "DB_NAME_PREFIX": f"loyalty_bench_{name}_",
                "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/loyalty_bench_{name}",
                "GATEWAY_PORT": str(free_port()), "OTEL_TRACES_EXPORTER": "none", "DEMO_DATA": "0",
                "LOG_LEVEL": "WARNING", "BOOTSTRAP_ADMIN_USER": "bench-admin",
                "BOOTSTRAP_ADMIN_PASSWORD": password_file.read_text() if reuse else secrets.token_urlsafe(16),
                "GATEWAY_JWT_SECRET": secrets.token_urlsafe(48),
                "CALLER_SIGNING_KEY": secrets.token_urlsafe(48),
                "RATE_LIMIT_KEY": "100000/100000", "RATE_LIMIT_STAFF": "100000/100000"})
    env.update({setting: str(free_port()) for setting in metrics_port_settings()})
    os.environ.update({k: env[k] for k in ("AMQP_URI", "DB_NAME_PREFIX")})
    from service_runtime import bootstrap

    bootstrap.empty_vhost(env["AMQP_URI"])
    subprocess.run([sys.executable, "-m", "service_runtime.bootstrap", *([] if reuse else ["--drop"])], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    if kept is not None and not reuse:
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password_file.write_text(env["BOOTSTRAP_ADMIN_PASSWORD"])
    started = subprocess.run(PLATFORM + ["start"], cwd=ROOT, env=env, capture_output=True, text=True)
    if started.returncode != 0:
        raise SystemExit(started.stdout + started.stderr)
    try:
        base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        token = httpx.post(base + "/v1/auth/token", data={"username": "bench-admin",
                                                          "password": env["BOOTSTRAP_ADMIN_PASSWORD"]}).json()
        env["VAR_DIR"] = str(var)
        yield base, token["access_token"], env
    finally:
        subprocess.run(PLATFORM + ["stop"], cwd=ROOT, env=env, capture_output=True)
