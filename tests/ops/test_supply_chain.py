"""The supply chain as committed: every package locked with hashes, the image built from the lock
on a pinned base as a non-root user with a HEALTHCHECK, compose on a supported RabbitMQ."""
from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from deploy.healthcheck import url_to_probe

ROOT = Path(__file__).resolve().parents[2]


def _locked(name: str) -> dict[str, tuple[str, int]]:
    """{package: (version, number of hashes)} of a lock file."""
    found: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", (ROOT / name).read_text()):
        if block.startswith("#") or not block.strip():
            continue
        requirement = Requirement(block.split("\\")[0].strip())
        (version,) = [spec.version for spec in requirement.specifier if spec.operator == "=="]
        found[canonicalize_name(requirement.name)] = (version, block.count("--hash=sha256:"))
    return found


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-r"):
            name_, _, version = line.partition("==")
            pins[canonicalize_name(name_)] = version
    return pins


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-dev.lock", "requirements-tools.lock",
                                  "deploy/local/requirements-audit.lock"])
def test_every_locked_package_is_pinned_with_hashes(lock):
    locked = _locked(lock)
    assert locked
    assert [name for name, (_, hashes) in locked.items() if hashes == 0] == []


def test_the_locks_hold_what_requirements_pin_at_the_same_versions():
    runtime, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    for name, version in {**_pins("requirements.txt"), **_pins("requirements-dev.txt")}.items():
        assert dev[name][0] == version, f"{name}: run `make lock` after editing requirements"
    assert {name: v for name, (v, _) in runtime.items()} == {name: dev[name][0] for name in runtime}


def test_nameko_and_everything_it_needs_are_locked():
    runtime = _locked("requirements.lock")
    needed = [Requirement(r) for r in metadata.requires("nameko") or []]
    missing = [str(r.name) for r in needed if (r.marker is None or r.marker.evaluate({"extra": ""}))
               and canonicalize_name(r.name) not in runtime]
    assert runtime["nameko"][0] == "3.0.0rc11" and missing == []


def test_the_install_paths_require_hashes():
    venv = (ROOT / "deploy/local/ensure-venv.sh").read_text()
    installs = [line for line in venv.splitlines() if "pip install" in line]
    assert len(installs) == 3 and all("--require-hashes" in line for line in installs)
    assert "requirements-tools.lock" in venv
    makefile = (ROOT / "Makefile").read_text()
    assert "$(STAMP): requirements-dev.lock requirements-tools.lock" in makefile


def test_the_image_is_built_from_the_lock_on_a_pinned_base_as_a_non_root_user():
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}$", dockerfile, re.M)
    assert "pip install --require-hashes --no-deps -r /tmp/requirements.lock" in dockerfile
    assert "requirements.txt" not in dockerfile
    (user,) = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert not user.startswith(("0", "root"))
    assert re.search(r"^HEALTHCHECK .*\n\s+CMD \[\"python\", \"/app/deploy/healthcheck.py\"\]", dockerfile, re.M)


def test_compose_runs_a_supported_rabbitmq_without_deprecated_features():
    """No queue we declare needs transient_nonexcl_queues (checked live in test_live_metrics.py)."""
    compose = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())
    series = tuple(int(x) for x in compose["services"]["rabbitmq"]["image"].split(":")[1].split("-")[0].split("."))
    assert series >= (4, 3)
    assert "deprecated_features" not in (ROOT / "deploy/compose.yaml").read_text().replace("deprecated feature", "")


@pytest.mark.parametrize("argv, url", [
    (["python", "-m", "service_runtime.runner", "points"], "http://127.0.0.1:9102/healthz"),
    (["python", "-m", "services.gateway"], "http://127.0.0.1:8080/healthz"),
    (["python", "-m", "service_runtime.bootstrap"], None),
])
def test_the_healthcheck_probes_what_the_container_runs(argv, url, monkeypatch):
    monkeypatch.delenv("POINTS_METRICS_PORT", raising=False)
    monkeypatch.delenv("GATEWAY_PORT", raising=False)
    assert url_to_probe([["/sbin/tini", "--"], argv]) == url
