"""Typed settings (service_runtime/config.py): defaults, parsing, and errors that name the variable."""
from __future__ import annotations

import pytest

from service_runtime.config import SettingsError, env_float
from services.catalog.files.settings import FilesSettings
from services.catalog.files.sftp import SftpError


def test_unset_or_empty_variables_keep_their_defaults_and_set_ones_are_parsed() -> None:
    assert FilesSettings.from_env({}) == FilesSettings.from_env({"FILES_POLL_SECONDS": ""})
    given = FilesSettings.from_env({"FILES_SCHEDULE": "off", "FILES_BATCHES_PER_TICK": "7", "FILES_SFTP_PORT": "2222"})
    assert (given.schedule, given.batches_per_tick, given.sftp_port, given.lease_seconds) == (False, 7, 2222, 120.0)
    assert given.sftp() is None  # no host: no SFTP


@pytest.mark.parametrize(("variable", "value"), [
    ("FILES_SFTP_PORT", "twenty-two"), ("FILES_BATCHES_PER_TICK", "0"), ("FILES_SCHEDULE", "sometimes"),
])
def test_a_malformed_variable_is_named_with_its_value(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"environment variable {variable}: .*\(got '{value}'\)"):
        FilesSettings.from_env({variable: value})


def test_the_platform_settings_name_a_variable_that_is_not_a_number(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOX_POLL_SECONDS", "soon")
    with pytest.raises(ValueError, match="OUTBOX_POLL_SECONDS must be a number, got 'soon'"):
        env_float("OUTBOX_POLL_SECONDS", 1.0)


def test_an_sftp_host_without_its_account_says_what_is_missing() -> None:
    with pytest.raises(SftpError, match="FILES_SFTP_USER, FILES_SFTP_KEY_FILE, FILES_SFTP_HOST_KEY"):
        FilesSettings.from_env({"FILES_SFTP_HOST": "sftp.example"}).sftp()
    config = FilesSettings.from_env({"FILES_SFTP_HOST": "h", "FILES_SFTP_USER": "u", "FILES_SFTP_KEY_FILE": "k",
                                     "FILES_SFTP_HOST_KEY": "ssh-ed25519 AAAA"}).sftp()
    assert config is not None and (config.port, config.directory, config.name) == (22, ".", "sftp")
