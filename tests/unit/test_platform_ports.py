"""`make run` refuses a configuration in which two of its own processes would need one port."""
from __future__ import annotations

import pytest

from deploy.local.occupied import _shared_ports
from service_runtime.config import metrics_port_settings


def test_two_settings_naming_one_port_are_both_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTS_METRICS_PORT", "9101")  # the members default
    monkeypatch.setenv("CONSOLE_METRICS_PORT", "8080")
    assert _shared_ports(8080) == ["port 8080 is named by GATEWAY_PORT and CONSOLE_METRICS_PORT",
                                   "port 9101 is named by MEMBERS_METRICS_PORT and POINTS_METRICS_PORT"]


def test_the_defaults_share_no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in metrics_port_settings():
        monkeypatch.delenv(setting, raising=False)
    assert _shared_ports(8080) == []
