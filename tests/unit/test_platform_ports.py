"""`make run` refuses a configuration in which two of its own processes would need one port."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local.occupied import port_clashes
from service_runtime.config import metrics_port_settings


def test_two_settings_naming_one_port_are_both_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POINTS_METRICS_PORT", "9101")  # the members default
    monkeypatch.setenv("CONSOLE_METRICS_PORT", "8080")
    assert port_clashes("127.0.0.1", 8080) == ["port 8080 is named by GATEWAY_PORT and CONSOLE_METRICS_PORT",
                                               "port 9101 is named by MEMBERS_METRICS_PORT and POINTS_METRICS_PORT"]


def test_the_defaults_share_no_port(monkeypatch: pytest.MonkeyPatch) -> None:
    for setting in metrics_port_settings():
        monkeypatch.delenv(setting, raising=False)
    assert port_clashes("127.0.0.1", 8080) == []


def test_make_run_refuses_them_before_it_starts_anything(tmp_path: Path) -> None:
    env = {**os.environ, "VAR_DIR": str(tmp_path), "GATEWAY_PORT": "18080", "MEMBERS_METRICS_PORT": "18101",
           "POINTS_METRICS_PORT": "18101"}
    root = Path(__file__).resolve().parents[2]
    started = subprocess.run([sys.executable, str(root / "deploy" / "local" / "platform.py"), "start"], cwd=root,
                             env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 1
    assert "port 18101 is named by MEMBERS_METRICS_PORT and POINTS_METRICS_PORT" in started.stderr
    assert not (tmp_path / "log").exists()  # nothing started, not even the bootstrap
