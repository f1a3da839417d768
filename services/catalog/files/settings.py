"""The files adapter's settings (docs/erp-files.md), typed, read once when the catalog starts."""
from __future__ import annotations

from pydantic import Field

from service_runtime.config import EnvSettings
from services.catalog.files.sftp import SftpConfig, SftpError


class FilesSettings(EnvSettings):
    schedule: bool = Field(True, alias="FILES_SCHEDULE")  # off: on demand only (files_sync, the API)
    poll_seconds: float = Field(15.0, alias="FILES_POLL_SECONDS", gt=0)
    batches_per_tick: int = Field(200, alias="FILES_BATCHES_PER_TICK", ge=1)  # then the worker lets others in
    lease_seconds: float = Field(120.0, alias="FILES_LEASE_SECONDS", gt=0)
    sftp_name: str = Field("sftp", alias="FILES_SFTP_NAME")
    sftp_host: str = Field("", alias="FILES_SFTP_HOST")  # none: no SFTP (uploads still run)
    sftp_port: int = Field(22, alias="FILES_SFTP_PORT", ge=1, le=65535)
    sftp_user: str = Field("", alias="FILES_SFTP_USER")
    sftp_key_file: str = Field("", alias="FILES_SFTP_KEY_FILE")
    sftp_host_key: str = Field("", alias="FILES_SFTP_HOST_KEY")
    sftp_dir: str = Field(".", alias="FILES_SFTP_DIR")

    def sftp(self) -> SftpConfig | None:
        """The SFTP connection, None when no host is set; SftpError (shown on the runs, as a refused
        connection is) when it is set without its account."""
        if not self.sftp_host:
            return None
        missing = [alias for alias, value in (("FILES_SFTP_USER", self.sftp_user),
                                              ("FILES_SFTP_KEY_FILE", self.sftp_key_file),
                                              ("FILES_SFTP_HOST_KEY", self.sftp_host_key)) if not value]
        if missing:
            raise SftpError(f"FILES_SFTP_HOST is set but {', '.join(missing)} is not")
        return SftpConfig(name=self.sftp_name, host=self.sftp_host, port=self.sftp_port, user=self.sftp_user,
                          key_file=self.sftp_key_file, host_key=self.sftp_host_key, directory=self.sftp_dir)
