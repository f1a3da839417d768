"""Every dashboard panel's query, run against a real Prometheus scraping a running platform
under a little load, returns series; the alert rules load in that Prometheus too."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service_runtime.config import DATABASES  # one postgres_exporter each (deploy/prometheus/local.py)
from services.campaigns.coupons.domain import new_code
from tests.ops.conftest import ROOT
from tests.ports import free_port, free_ports

LOCAL = [sys.executable, str(ROOT / "deploy" / "prometheus" / "local.py")]
sys.path.insert(0, str(ROOT / "deploy" / "grafana"))
import generate as dashboards_code  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prometheus(ops_platform: dict[str, Any]) -> Iterator[str]:
    env = dict(ops_platform["env"], PROMETHEUS_PORT=str(free_port()), PG_EXPORTER_PORT=str(free_ports(len(DATABASES))),
               PROMETHEUS_SCRAPE_INTERVAL="2s")
    started = subprocess.run(LOCAL + ["start"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"http://127.0.0.1:{env['PROMETHEUS_PORT']}"
    finally:
        subprocess.run(LOCAL + ["stop"], cwd=ROOT, env=env, capture_output=True, timeout=30)


def _load(http: httpx.Client) -> None:
    """Registrations, sales (with points receipts sent), a well-formed coupon code that does not exist,
    a refused request: the subject of each panel."""
    for i in range(6):
        created = http.post("/v1/members", json={"name": f"Ops Member {i}", "phone": "136" + str(uuid.uuid4().int)[:8],
                                                 "channel": "pos"})
        assert created.status_code == 201, created.text
        member_id = created.json()["member"]["member_id"]
        for _attempt in range(40):  # the points account opens from member.registered
            sale = http.post("/v1/points/sales", json={
                "store": "SH-001", "terminal": "T1", "transaction_id": f"OPS-{uuid.uuid4().hex[:12]}",
                "member_id": member_id, "amount": "88.00", "sold_at": "2026-01-15T10:30:00+08:00",
                "items": [{"sku": "TEA-1", "category": "drinks", "amount": "88.00"}]})
            if sale.status_code == 201:
                break
            time.sleep(0.25)
        assert sale.status_code == 201, sale.text
    redeem = http.post("/v1/coupons/redeem", json={"codes": [new_code()], "store": "SH-001", "amount": "10.00",
                                                   "transaction_id": "OPS-REDEEM-1"})
    assert redeem.status_code in (404, 409, 422), redeem.text
    assert http.post("/v1/members", json={"name": "No Phone"}).status_code == 422


def _series(prometheus: str, expr: str) -> int:
    answer = httpx.get(prometheus + "/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return len(answer["data"]["result"])


def test_every_panel_query_returns_series(ops_platform: dict[str, Any], prometheus: str) -> None:
    _load(ops_platform["http"])
    queries = {(name, panel["title"], target["expr"])
               for name, board in dashboards_code.dashboards().items()
               for panel in board["panels"] for target in panel.get("targets", [])}
    assert len(queries) > 60
    deadline = time.monotonic() + 90
    dead = set(queries)
    while dead and time.monotonic() < deadline:
        dead = {query for query in dead if _series(prometheus, query[2]) == 0}
        if dead:
            time.sleep(2)
    assert not dead, "panels whose query returns nothing:\n" + "\n".join(f"{d}: {t}: {e}" for d, t, e in sorted(dead))


def test_prometheus_loaded_every_rule_and_scrapes_every_target(prometheus: str) -> None:
    rules = httpx.get(prometheus + "/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {rule["name"] for group in rules for rule in group["rules"]}
    generated = Path(ROOT / "deploy" / "prometheus" / "rules" / "alerts.yml").read_text()
    assert "LoyaltyServiceDown" in loaded and all(name in generated for name in loaded if name.startswith("Loyalty"))
    assert all(rule["health"] == "ok" for group in rules for rule in group["rules"]), rules
    def down() -> dict[str, str]:
        targets = httpx.get(prometheus + "/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        jobs = {target["labels"]["job"] for target in targets}
        assert jobs >= {"gateway", "members", "points", "campaigns", "notify", "rabbitmq", "rabbitmq-queues",
                        "postgres"}
        return {t["scrapeUrl"]: t["lastError"] for t in targets if t["health"] != "up"}

    # health is each target's last scrape: one that timed out while the box was busy (the other lane)
    # is scraped again within an interval; a target that stays down fails here with its errors
    deadline = time.monotonic() + 60
    while (failing := down()) and time.monotonic() < deadline:
        time.sleep(2)
    assert failing == {}


def test_no_queue_needs_rabbitmq_4_3s_transient_nonexcl_permit(ops_platform: dict[str, Any]) -> None:
    """RabbitMQ 4.3 refuses non-durable non-exclusive queues (deploy/k8s/base/rabbitmq.yaml): every queue
    the running platform declared, Nameko's reply queues included, is durable or exclusive."""
    from service_runtime import bootstrap

    _load(ops_platform["http"])
    queues = bootstrap.queues(ops_platform["env"]["AMQP_URI"], "name,durable,exclusive")
    assert any(q["name"].startswith("rpc.reply-") for q in queues), queues
    assert [q["name"] for q in queues if not q["durable"] and not q["exclusive"]] == []
