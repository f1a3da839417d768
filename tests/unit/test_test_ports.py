"""The ports tests hand their servers: never twice, never in the range outgoing connections use."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests import ports

ROOT = Path(__file__).resolve().parents[2]
TAKE = "from tests.ports import free_port; print(' '.join(str(free_port()) for _ in range(40)))"


def test_processes_taking_ports_at_once_never_get_the_same_one(tmp_path: Path) -> None:
    env = {"TEST_PORTS_FILE": str(tmp_path / "counter"), "PATH": "/usr/bin:/bin"}
    takers = [subprocess.Popen([sys.executable, "-c", TAKE], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
              for _ in range(4)]
    handed = [int(port) for taker in takers for port in taker.communicate(timeout=60)[0].split()]
    low, high = ports._range()
    assert len(handed) == 160 and len(set(handed)) == 160
    assert all(low <= port < high for port in handed)
    assert high <= int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_a_port_someone_listens_on_is_skipped(tmp_path: Path, monkeypatch) -> None:
    import socket

    monkeypatch.setattr(ports, "_COUNTER", tmp_path / "counter")
    first = ports.free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", first + 1))
        held.listen()
        (tmp_path / "counter").write_text(str(first + 1))
        assert ports.free_ports(2) == first + 2
