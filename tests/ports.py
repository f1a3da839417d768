"""Ports for the servers that tests and benchmarks start (platforms, brokers, SFTP, stubs).

``bind(0)`` hands out a port from the kernel's ephemeral range and forgets it: the next ``bind(0)``,
another lane's platform, or any outgoing connection to PostgreSQL or RabbitMQ may take it before the
server binds it, and a gateway then reads another process's metrics as its /status. These ports come
from below the ephemeral range, in turn from a counter every process on the machine shares under a
file lock, so none is handed out twice until the whole range has been used."""
from __future__ import annotations

import fcntl
import os
import socket
import tempfile
from pathlib import Path

_COUNTER = Path(os.environ.get("TEST_PORTS_FILE", Path(tempfile.gettempdir()) / "loyalty-test-ports"))
_SPAN = 10000


def _range() -> tuple[int, int]:
    """``[low, high)`` just below the ephemeral range (usually 22768-32768)."""
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    high = max(ephemeral_low, 1024 + _SPAN)
    return high - _SPAN, high


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))  # the metrics servers listen on every address
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive ports nobody listens on and no caller was given lately."""
    low, high = _range()
    _COUNTER.touch(exist_ok=True)
    with _COUNTER.open("r+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        text = counter.read().strip()
        port = int(text) if text.isdigit() and low <= int(text) < high else low
        for _ in range(high - low):
            if port + count > high:
                port = low
            if all(_bindable(port + i) for i in range(count)):
                counter.seek(0)
                counter.truncate()
                counter.write(str(port + count))
                return port
            port += 1
    raise RuntimeError(f"no {count} consecutive free ports in {low}-{high}")


def free_port() -> int:
    return free_ports(1)
