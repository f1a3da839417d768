"""Prometheus and postgres_exporter beside a platform on this machine (`make prometheus`).

    python deploy/prometheus/local.py start   # write $VAR_DIR/prometheus, start the exporters and Prometheus
    python deploy/prometheus/local.py stop

Targets come from the same variables the platform reads (GATEWAY_METRICS_PORT, <SERVICE>_METRICS_PORT,
DB_NAME_PREFIX, PG_ADMIN_URL), so a platform on its own ports and databases (the tests') gets its
own Prometheus. PROMETHEUS_PORT (9090) and PG_EXPORTER_PORT (9187, then one more per database) set ours.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from service_runtime.config import _METRICS_PORTS, SERVICES, db_prefix, env, env_int, pg_admin_url  # noqa: E402

HERE = Path(__file__).resolve().parent
VAR = Path(env("VAR_DIR", str(ROOT / "var"))).resolve()
HOME = VAR / "prometheus"
# which custom queries (pg-queries/) each database's exporter runs
QUERIES = {"gateway": ("audit",), "members": ("outbox", "import-jobs"), "points": ("outbox", "points-liability"),
           "campaigns": ("outbox", "coupon-jobs"), "notify": ("outbox",),
           "catalog": ("outbox",), "feed": ("outbox",),
           "care": ("outbox",),
           "fraud": ("outbox",), "analytics": ("outbox",)}


def _targets(host: str = "127.0.0.1") -> dict[str, list[dict[str, object]]]:
    gateway = env_int("GATEWAY_METRICS_PORT", 9100)  # never the public GATEWAY_PORT: metrics are not served there
    found: dict[str, list[dict[str, object]]] = {"gateway": [{"targets": [f"{host}:{gateway}"]}]}
    for service in SERVICES:
        port = env_int(service.upper() + "_METRICS_PORT", _METRICS_PORTS[service])
        found[service] = [{"targets": [f"{host}:{port}"]}]
    found["console"] = [{"targets": [f"{host}:{env_int('CONSOLE_METRICS_PORT', 9111)}"]}]
    found["rabbitmq"] = [{"targets": [f"{env('RABBIT_HOST', host)}:{env_int('RABBIT_PROMETHEUS_PORT', 15692)}"]}]
    base = env_int("PG_EXPORTER_PORT", 9187)
    found["postgres"] = [{"targets": [f"{host}:{base + i}"], "labels": {"database_of": db}}
                         for i, db in enumerate(QUERIES)]
    return found


def write_config() -> Path:
    import yaml

    (HOME / "targets").mkdir(parents=True, exist_ok=True)
    shutil.copytree(HERE / "rules", HOME / "rules", dirs_exist_ok=True)
    interval = env("PROMETHEUS_SCRAPE_INTERVAL", "15s")  # the tests scrape every 2s
    (HOME / "prometheus.yml").write_text((HERE / "prometheus.yml").read_text().replace(" 15s", " " + interval))
    for name, groups in _targets().items():
        (HOME / "targets" / f"{name}.yml").write_text(yaml.safe_dump(groups))
    for db, parts in QUERIES.items():
        (HOME / f"queries-{db}.yaml").write_text("\n".join((HERE / "pg-queries" / f"{p}.yaml").read_text()
                                                           for p in parts))
    return HOME / "prometheus.yml"


def _spawn(name: str, argv: list[str], extra_env: dict[str, str] | None = None) -> int:
    (HOME / "run").mkdir(parents=True, exist_ok=True)
    log = open(HOME / f"{name}.log", "ab")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(extra_env or {})})
    (HOME / "run" / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def start() -> str:
    config = write_config()
    admin = urlsplit(pg_admin_url())
    base = env_int("PG_EXPORTER_PORT", 9187)
    for i, db in enumerate(QUERIES):
        dsn = urlunsplit(admin._replace(path="/" + db_prefix() + db, query="sslmode=disable"))
        # server-wide statistics once (the first exporter); the others only their database's queries
        only_mine = [] if i == 0 else ["--disable-default-metrics", "--disable-settings-metrics"]
        _spawn(f"pg-exporter-{db}", ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{base + i}",
                                     f"--extend.query-path={HOME / f'queries-{db}.yaml'}", *only_mine],
               {"DATA_SOURCE_NAME": dsn})
    port = env_int("PROMETHEUS_PORT", 9090)
    _spawn("prometheus", ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={HOME / 'data'}",
                          f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"])
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
                if response.status == 200:
                    return url
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"Prometheus did not get ready on {url}: see {HOME / 'prometheus.log'}")


def stop() -> None:
    for pidfile in sorted((HOME / "run").glob("*.pid")):
        try:
            os.killpg(int(pidfile.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink()


def main(argv: list[str]) -> int:
    if argv[:1] == ["start"]:
        url = start()
        print(f"Prometheus: {url} (targets: {url}/targets, rules: deploy/prometheus/rules/)")
    elif argv[:1] == ["stop"]:
        stop()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
