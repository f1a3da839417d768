"""The image's HEALTHCHECK: is this container's process answering?

One image runs every process, so this looks at what the container runs: a service
(`service_runtime.runner <name>`) is healthy when /healthz on its metrics port answers (its
consumers turn), the gateway when its own `/healthz` does; a one-shot command (bootstrap,
dead letters, backups) has nothing to ask.
Exit status 0 healthy, 1 not.
"""
from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service_runtime.config import _METRICS_PORTS, env_int  # noqa: E402


def _commands() -> list[list[str]]:
    found = []
    for proc in sorted(Path("/proc").glob("[0-9]*"), key=lambda p: int(p.name)):
        try:
            found.append((proc / "cmdline").read_bytes().decode(errors="replace").split("\0"))
        except OSError:
            continue  # gone meanwhile
    return found


def url_to_probe(commands: list[list[str]]) -> str | None:
    """The URL that answers while the container's main process is healthy, or None."""
    for argv in commands:
        if "service_runtime.runner" in argv and argv.index("service_runtime.runner") + 1 < len(argv):
            service = argv[argv.index("service_runtime.runner") + 1]
            port = env_int(f"{service.upper()}_METRICS_PORT", _METRICS_PORTS.get(service, 9100))
            return f"http://127.0.0.1:{port}/healthz"  # fails on a dead consumer, not only a dead process
        if "services.gateway" in argv:
            return f"http://127.0.0.1:{env_int('GATEWAY_PORT', 8080)}/healthz"
    return None


def main() -> int:
    url = url_to_probe(_commands())
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
