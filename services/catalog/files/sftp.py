"""The SFTP side of the files adapter (paramiko): list the drop directory, download a file to a
local temporary file while hashing it. The server's host key is pinned (FILES_SFTP_HOST_KEY):
an unknown or changed key is refused, never trusted on first use."""
from __future__ import annotations

import base64
import hashlib
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import paramiko

CHUNK = 1 << 16


class SftpError(Exception):
    """The server could not be reached, refused our key, or showed another host key."""


@dataclass(frozen=True)
class SftpConfig:
    name: str  # the connection's name: the ``source`` of the runs it brings
    host: str
    port: int
    user: str
    key_file: str
    host_key: str  # "ssh-ed25519 AAAA..." as in known_hosts (without the host name)
    directory: str
    # made from the FILES_SFTP_* settings: services/catalog/files/settings.py


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    mtime: int


def _pinned(config: SftpConfig) -> paramiko.PKey:
    kind, _, data = config.host_key.strip().partition(" ")
    try:
        return paramiko.PKey.from_type_string(kind, base64.b64decode(data.split()[0]))
    except (ValueError, IndexError, paramiko.SSHException) as exc:
        raise SftpError(f"FILES_SFTP_HOST_KEY is not a public key line ({exc})") from None


@contextmanager
def session(config: SftpConfig, timeout: float = 15.0) -> Iterator[paramiko.SFTPClient]:
    client = paramiko.SSHClient()
    host = config.host if config.port == 22 else f"[{config.host}]:{config.port}"
    pinned = _pinned(config)
    client.get_host_keys().add(host, pinned.get_name(), pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(config.host, port=config.port, username=config.user, key_filename=config.key_file,
                       timeout=timeout, banner_timeout=timeout, auth_timeout=timeout, allow_agent=False,
                       look_for_keys=False)
    except paramiko.BadHostKeyException:
        client.close()
        raise SftpError(f"{config.host}:{config.port} showed another host key than FILES_SFTP_HOST_KEY") from None
    except paramiko.AuthenticationException:
        client.close()
        raise SftpError(f"{config.host}:{config.port} refused user {config.user!r} with our key") from None
    except (OSError, paramiko.SSHException) as exc:
        client.close()
        raise SftpError(f"{config.host}:{config.port} could not be reached: {exc}") from None
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(timeout * 4)
        yield sftp
    finally:
        _close(client)


def _close(client: paramiko.SSHClient) -> None:
    """Let the transport's reader thread end before its socket closes: under eventlet that thread
    is a green thread still waiting on the socket's fd, and an fd closed under it is soon reused
    (by a database connection) while it still listens there."""
    transport = client.get_transport()
    if transport is not None and transport.is_alive():
        transport.packetizer._Packetizer__closed = True  # its next read timeout (0.1 s) ends the thread
        transport.join(5)
    client.close()


def listing(sftp: paramiko.SFTPClient, directory: str) -> list[RemoteFile]:
    """The regular files of the drop directory, oldest first (then by name)."""
    try:
        entries = sftp.listdir_attr(directory)
    except OSError as exc:
        raise SftpError(f"cannot list {directory!r}: {exc}") from None
    files = [RemoteFile(e.filename, int(e.st_size or 0), int(e.st_mtime or 0)) for e in entries
             if e.st_mode is not None and stat.S_ISREG(e.st_mode) and not e.filename.startswith(".")]
    return sorted(files, key=lambda f: (f.mtime, f.name))


def download(sftp: paramiko.SFTPClient, directory: str, name: str, out: IO[bytes]) -> tuple[int, str]:
    """Copy one file to ``out`` a chunk at a time; (bytes, sha256 hex)."""
    digest = hashlib.sha256()
    size = 0
    path = f"{directory.rstrip('/')}/{name}" if directory not in ("", ".") else name
    try:
        with sftp.open(path, "rb") as remote:
            remote.prefetch()
            for data in iter(lambda: remote.read(CHUNK), b""):
                out.write(data)
                digest.update(data)
                size += len(data)
    except OSError as exc:
        raise SftpError(f"cannot read {path!r}: {exc}") from None
    out.flush()
    return size, digest.hexdigest()
