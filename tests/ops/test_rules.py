"""Prometheus configuration and rules: valid for promtool, alerts behave as their unit tests say,
and the committed rules and dashboards are what their generators write."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.ops.conftest import ROOT

PROMETHEUS = ROOT / "deploy" / "prometheus"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run deploy/local/ensure-prometheus.sh"
    return found


def test_rules_and_config_are_valid(promtool: str) -> None:
    checked = _run(promtool, "check", "rules", *map(str, sorted((PROMETHEUS / "rules").glob("*.yml"))))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    checked = _run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_kubernetes_config_scrapes_the_same_jobs() -> None:
    """Debian's promtool is built without Kubernetes discovery, so prometheus-k8s.yml is checked here:
    the same rule files, and every job the rules and dashboards name."""
    import yaml

    local = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    k8s = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text())
    assert k8s["rule_files"] == local["rule_files"]
    jobs = {job["job_name"] for job in k8s["scrape_configs"]}
    assert jobs >= {"rabbitmq", "rabbitmq-queues", "postgres"}
    pods = next(job for job in k8s["scrape_configs"] if job["job_name"] == "loyalty-pods")
    assert {"target_label": "job", "source_labels": ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]} in \
        pods["relabel_configs"]


def test_alert_unit_tests_pass(promtool: str) -> None:
    tested = _run(promtool, "test", "rules", str(ROOT / "tests" / "ops" / "alerts_test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_runbook_and_a_severity() -> None:
    import yaml

    groups = yaml.safe_load((PROMETHEUS / "rules" / "alerts.yml").read_text())["groups"]
    alerts = [rule for group in groups for rule in group["rules"]]
    assert len(alerts) >= 15
    for rule in alerts:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert (ROOT / rule["annotations"]["runbook_url"]).is_file(), rule["alert"]


@pytest.mark.parametrize("generator", ["deploy/prometheus/rules.py", "deploy/grafana/generate.py"])
def test_committed_output_equals_the_generator(generator: str) -> None:
    checked = _run(sys.executable, str(ROOT / generator), "--check")
    assert checked.returncode == 0, checked.stderr
