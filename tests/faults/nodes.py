"""A private RabbitMQ node and a private PostgreSQL cluster, started and broken by the fault suite.

The shared broker (5672) and database (5432) of this machine are never touched: every fault
is injected into a node this suite started, on free ports, in its own directory.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.ports import free_port

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
PG_BIN = Path("/usr/lib/postgresql/15/bin")



def available() -> str | None:
    """Why the private nodes cannot run here (None: they can)."""
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        return "rabbitmq-server is not installed"
    if not (PG_BIN / "initdb").exists():
        return "PostgreSQL 15 server binaries are not installed"
    if os.geteuid() != 0 and shutil.which("runuser") is None:
        return "needs root (to run PostgreSQL as the postgres user)"
    return None


class RabbitNode:
    """``rabbitmq-server`` with its own node name, ports, data, logs and (no) plugins."""

    def __init__(self, base: Path, tag: str) -> None:
        self.dir = base
        self.port, dist_port = free_port(), free_port()
        self.node = f"faults{tag}{self.port}@localhost"
        (base / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\nloopback_users = none\n")
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq-env.conf").write_text("")  # not the machine's /etc/rabbitmq/rabbitmq-env.conf
        self.env = {**os.environ, "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(dist_port), "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(base / "log"), "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
                    "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
                    "RABBITMQ_PID_FILE": str(base / "rabbit.pid"), "ERL_EPMD_ADDRESS": "127.0.0.1"}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args], env=self.env, check=True,
                       capture_output=True, timeout=timeout)

    def start(self) -> None:
        (self.dir / "rabbit.pid").unlink(missing_ok=True)
        with (self.dir / "server.log").open("ab") as log:
            self.process = subprocess.Popen([str(RABBIT_BIN / "rabbitmq-server")], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        self.ctl("wait", str(self.dir / "rabbit.pid"), "--timeout", "90", timeout=120)

    def beam_pid(self) -> int:
        return int((self.dir / "rabbit.pid").read_text().strip())

    def kill_hard(self) -> None:
        """SIGKILL the node's Erlang VM (no clean shutdown of anything)."""
        os.kill(self.beam_pid(), signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def stop(self) -> None:
        try:
            self.ctl("stop", timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            try:
                os.kill(self.beam_pid(), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        if self.process is not None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


class PgCluster:
    """A PostgreSQL 15 cluster made with initdb in a temporary directory, run as user postgres."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
        self.dir.chmod(0o700)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as_postgres, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                   "-c fsync=off -c synchronous_commit=off")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-o", options, "-l",
                  str(self.dir / "server.log"), "-w", "start")

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {port}")
