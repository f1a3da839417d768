"""`bootstrap --drop` drops throwaway (test) databases only, unless told --yes-really."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service_runtime.bootstrap import DropRefused, check_drop

ROOT = Path(__file__).resolve().parents[2]


def test_test_and_benchmark_databases_drop_without_confirmation():
    check_drop(["loyalty_test_x_points", "loyalty_e2e_points", "loyalty_bench_slice_points"], confirmed=False)


def test_a_chains_database_is_refused_and_named():
    with pytest.raises(DropRefused, match="loyalty_points") as refused:
        check_drop(["loyalty_test_points", "loyalty_points"], confirmed=False)
    assert "loyalty_test_points" not in str(refused.value)


def test_confirmation_lets_any_database_drop():
    check_drop(["loyalty_points"], confirmed=True)


def test_the_throwaway_prefixes_are_configurable(monkeypatch):
    monkeypatch.setenv("BOOTSTRAP_DROP_PREFIXES", "staging_")
    check_drop(["staging_points"], confirmed=False)
    with pytest.raises(DropRefused):
        check_drop(["loyalty_test_points"], confirmed=False)


def test_the_command_refuses_before_touching_anything():
    # an unreachable broker and database: a refusal must come before any connection
    env = {**os.environ, "DB_NAME_PREFIX": "loyalty_", "AMQP_URI": "amqp://guest:guest@127.0.0.1:1/",
           "PG_ADMIN_URL": "postgresql://postgres:postgres@127.0.0.1:1/postgres"}
    env.pop("BOOTSTRAP_DROP_PREFIXES", None)
    done = subprocess.run([sys.executable, "-m", "service_runtime.bootstrap", "--drop"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to drop loyalty_members" in done.stderr and "--yes-really" in done.stderr
