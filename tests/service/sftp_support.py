"""A private OpenSSH server for the files adapter's tests: Debian's sshd (installed by
deploy/local/ensure-sftp.sh when missing) with its own host key, config, user key and drop
directory in a temporary directory, on a free port; never the system's sshd or port 22."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Sftp:
    port: int
    user: str
    key_file: str
    host_key: str
    drop: Path

    def env(self, name: str = "sftp") -> dict[str, str]:
        return {"FILES_SFTP_NAME": name, "FILES_SFTP_HOST": "127.0.0.1", "FILES_SFTP_PORT": str(self.port),
                "FILES_SFTP_USER": self.user, "FILES_SFTP_KEY_FILE": self.key_file,
                "FILES_SFTP_HOST_KEY": self.host_key, "FILES_SFTP_DIR": str(self.drop)}


def _sshd() -> str:
    subprocess.run(["bash", str(ROOT / "deploy" / "local" / "ensure-sftp.sh")], check=True)
    for candidate in ("/usr/sbin/sshd", "/usr/local/sbin/sshd", shutil.which("sshd") or ""):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("sshd not found after deploy/local/ensure-sftp.sh")



@contextmanager
def private_sshd(base: Path) -> Iterator[Sftp]:
    sshd = _sshd()
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o700)
    drop = base / "drop"
    drop.mkdir()
    for name in ("host_ed25519", "user_ed25519"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / name)], check=True)
    (base / "authorized_keys").write_text((base / "user_ed25519.pub").read_text())
    user = os.environ.get("USER") or subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    port = free_port()
    config = base / "sshd_config"
    config.write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {base}/host_ed25519
PidFile {base}/sshd.pid
AuthorizedKeysFile {base}/authorized_keys
AllowUsers {user}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
ForceCommand internal-sftp
""")
    log = (base / "sshd.log").open("w")
    process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(base / 'sshd.log').read_text()}") from None
                time.sleep(0.1)
        host_key = " ".join((base / "host_ed25519.pub").read_text().split()[:2])
        yield Sftp(port, user, str(base / "user_ed25519"), host_key, drop)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
