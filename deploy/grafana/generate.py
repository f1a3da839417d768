"""Grafana dashboards as code: plain dicts written as JSON under dashboards/ (committed,
provisioned from files by provisioning/). `--check` fails when the JSON differs from this file.

    python deploy/grafana/generate.py [--check]

Every query here is run against a live Prometheus scraping a running platform by
tests/ops/test_live_metrics.py, which fails on a panel whose query returns no series.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATASOURCE = {"type": "prometheus", "uid": "loyalty-prometheus"}
NOT_API = 'route!~"/metrics|/healthz|/readyz|unmatched"'
SALES = 'method="POST",route="/v1/points/sales"'


def panel(title: str, *queries: tuple[str, str], unit: str = "short", kind: str = "timeseries",
          description: str = "") -> dict[str, Any]:
    """A panel: (PromQL, legend) pairs; position is set by the dashboard."""
    return {"type": kind, "title": title, "description": description, "datasource": DATASOURCE,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(65 + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                        for i, (expr, legend) in enumerate(queries)]}


def dashboard(uid: str, title: str, rows: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    panels: list[dict[str, Any]] = []
    y = 0
    for row_title, row_panels in rows:
        panels.append({"type": "row", "title": row_title, "collapsed": False, "panels": [],
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "id": len(panels) + 1})
        y += 1
        width = 24 // max(min(len(row_panels), 3), 1)
        for i, item in enumerate(row_panels):
            item = dict(item, id=len(panels) + 1,
                        gridPos={"x": (i % 3) * width, "y": y + (i // 3) * 8, "w": width, "h": 8})
            panels.append(item)
        y += 8 * ((len(row_panels) + 2) // 3)
    return {"uid": uid, "title": title, "tags": ["loyalty"], "timezone": "browser", "schemaVersion": 39,
            "version": 1, "editable": False, "refresh": "30s", "time": {"from": "now-3h", "to": "now"},
            "templating": {"list": []}, "annotations": {"list": []}, "panels": panels}


def overview() -> dict[str, Any]:
    return dashboard("loyalty-overview", "Loyalty: overview", [
        ("Traffic", [
            panel("Till sales per second", (f'sum(rate(loyalty_http_requests_total{{{SALES},status=~"2.."}}[5m]))',
                                            "sales/s"), unit="reqps"),
            panel("Points issued and spent per minute", ("sum(loyalty_ledger_issued_last_minute)", "issued"),
                  ("sum(loyalty_ledger_spent_last_minute)", "spent")),
            panel("Requests per second by route", (f"sum by (method, route) (rate(loyalty_http_requests_total"
                                                   f"{{{NOT_API}}}[5m]))", "{{method}} {{route}}"), unit="reqps"),
        ]),
        ("Errors", [
            panel("HTTP answers by status", (f"sum by (status) (rate(loyalty_http_requests_total{{{NOT_API}}}[5m]))",
                                             "{{status}}"), unit="reqps"),
            panel("RPC outcomes other than ok", ('sum by (service, outcome) (rate(loyalty_entrypoint_calls_total'
                                                 '{outcome!="ok"}[5m]))', "{{service}} {{outcome}}"), unit="ops"),
            panel("Targets up", ("up", "{{job}} {{instance}}"), kind="stat"),
        ]),
        ("Latency", [
            panel("p50 per route", ("histogram_quantile(0.5, sum by (route, le) (rate("
                                    f"loyalty_http_request_duration_seconds_bucket{{{NOT_API}}}[5m])))", "{{route}}"),
                  unit="s"),
            panel("p99 per route", ("histogram_quantile(0.99, sum by (route, le) (rate("
                                    f"loyalty_http_request_duration_seconds_bucket{{{NOT_API}}}[5m])))", "{{route}}"),
                  unit="s"),
            panel("Till sales under 100 ms (SLO 99.9%)", (
                f'sum(rate(loyalty_http_request_duration_seconds_bucket{{{SALES},le="0.1"}}[5m])) / '
                f"sum(rate(loyalty_http_request_duration_seconds_count{{{SALES}}}[5m]))", "under 100 ms"),
                unit="percentunit"),
        ]),
        ("Saturation", [
            panel("CPU cores per process", ('sum by (job, instance) (rate(process_cpu_seconds_total'
                                            '{job=~"gateway|members|points|campaigns|notify"}[5m]))',
                                            "{{job}} {{instance}}")),
            panel("Database pool in use", ("sum by (job, database) (loyalty_db_pool_in_use) / sum by (job, database) "
                                           "(loyalty_db_pool_capacity)", "{{job}} → {{database}}"),
                  unit="percentunit"),
            panel("RPC calls waiting for a worker", ('sum by (queue) (rabbitmq_detailed_queue_messages_ready'
                                                     '{queue=~"rpc-.*"})', "{{queue}}")),
        ]),
    ])


def service(name: str) -> dict[str, Any]:
    me = f'service="{name}"'
    return dashboard(f"loyalty-{name}", f"Loyalty: {name}", [
        ("Entrypoints", [
            panel("Calls per second by method and outcome", (f"sum by (kind, method, outcome) (rate("
                                                            f"loyalty_entrypoint_calls_total{{{me}}}[5m]))",
                                                            "{{kind}} {{method}} {{outcome}}"), unit="ops"),
            panel("p99 latency by method", (f"histogram_quantile(0.99, sum by (method, le) (rate("
                                            f"loyalty_entrypoint_duration_seconds_bucket{{{me}}}[5m])))",
                                            "{{method}}"), unit="s"),
            panel("p50 latency by method", (f"histogram_quantile(0.5, sum by (method, le) (rate("
                                            f"loyalty_entrypoint_duration_seconds_bucket{{{me}}}[5m])))",
                                            "{{method}}"), unit="s"),
        ]),
        ("Outbox and queues", [
            panel("Outbox backlog", (f"sum(loyalty_outbox_backlog{{{me}}})", "relay's count"),
                  (f'loyalty_outbox_unpublished{{database_of="{name}"}}', "in the database")),
            panel("Oldest unpublished event", (f'loyalty_outbox_oldest_age_seconds{{database_of="{name}"}}', "age"),
                  unit="s"),
            panel("Messages waiting in this service's queues", (
                f'sum by (queue) (rabbitmq_detailed_queue_messages_ready{{queue=~"rpc-{name}|evt-.*--{name}\\\\..*"}})',
                "{{queue}}")),
        ]),
        ("Process", [
            panel("Database pool", (f'sum(loyalty_db_pool_in_use{{job="{name}"}})', "in use"),
                  (f'sum(loyalty_db_pool_capacity{{job="{name}"}})', "capacity")),
            panel("Garbage collections per second", (f'sum by (generation) (rate(python_gc_collections_total'
                                                     f'{{job="{name}"}}[5m]))', "gen {{generation}}"), unit="ops"),
            panel("CPU and memory", (f'sum by (instance) (rate(process_cpu_seconds_total{{job="{name}"}}[5m]))',
                                     "cores {{instance}}"),
                  (f'sum by (instance) (process_resident_memory_bytes{{job="{name}"}}) / 2^30',
                   "GiB {{instance}}")),
        ]),
    ])


def gateway() -> dict[str, Any]:
    return dashboard("loyalty-gateway", "Loyalty: gateway", [
        ("HTTP", [
            panel("Requests per second by route and status", (
                f"sum by (route, status) (rate(loyalty_http_requests_total{{{NOT_API}}}[5m]))", "{{route}} {{status}}"),
                unit="reqps"),
            panel("p99 by route", ("histogram_quantile(0.99, sum by (route, le) (rate("
                                   f"loyalty_http_request_duration_seconds_bucket{{{NOT_API}}}[5m])))", "{{route}}"),
                  unit="s"),
            panel("5xx share", (f'sum(rate(loyalty_http_requests_total{{{NOT_API},status=~"5.."}}[5m])) or vector(0)',
                                "5xx"),
                  unit="percentunit", description="0 when no 5xx happened in the window"),
        ]),
        ("Process", [
            panel("Database pool", ('sum(loyalty_db_pool_in_use{job="gateway"})', "in use"),
                  ('sum(loyalty_db_pool_capacity{job="gateway"})', "capacity")),
            panel("Audit entries waiting to be chained", ("loyalty_audit_unsealed", "unsealed"),
                  ("loyalty_audit_oldest_unsealed_seconds", "oldest (s)")),
            panel("CPU cores", ('sum by (instance) (rate(process_cpu_seconds_total{job="gateway"}[5m]))',
                                "{{instance}}")),
            panel("Days until each key's rotation date",
                  ("(min by (secret) (loyalty_secret_rotation_due_timestamp_seconds) - time()) / 86400", "{{secret}}"),
                  unit="d", description="gateway's JWT key and members' data key (runbooks/secret-expiry.md)"),
        ]),
    ])


def business() -> dict[str, Any]:
    return dashboard("loyalty-business", "Loyalty: business", [
        ("Members", [
            panel("Members registered per minute", ('sum(rate(loyalty_entrypoint_calls_total{service="members",'
                                                    'method="register",outcome="ok"}[5m])) * 60', "registrations")),
            panel("Members", ("loyalty_members_estimated", "members (estimate)"), kind="stat"),
            panel("Member imports running", ("loyalty_import_jobs_running", "running"),
                  ("loyalty_import_jobs_rows_done", "rows done")),
        ]),
        ("Points", [
            panel("Points liability", ("loyalty_points_liability", "on accounts"), ("loyalty_points_held", "held"),
                  kind="stat"),
            panel("Points issued and spent per minute", ("sum(loyalty_ledger_issued_last_minute)", "issued"),
                  ("sum(loyalty_ledger_spent_last_minute)", "spent")),
            panel("Sales per second", (f'sum(rate(loyalty_http_requests_total{{{SALES},status=~"2.."}}[5m]))',
                                       "sales/s"), unit="reqps"),
        ]),
        ("Coupons and campaigns", [
            panel("Coupon redemptions by outcome", ('sum by (outcome) (rate(loyalty_entrypoint_calls_total'
                                                    '{service="campaigns",method="redeem_coupons"}[5m]))',
                                                    "{{outcome}}"), unit="ops"),
            panel("Coupon jobs open", ("loyalty_coupon_jobs_open", "open"),
                  ("loyalty_coupon_jobs_position_sum", "members done")),
            panel("Messages sent by channel and outcome", ("sum by (channel, outcome) (rate("
                                                           "loyalty_notify_messages_total[5m]))",
                                                           "{{channel}} {{outcome}}"), unit="ops"),
        ]),
        ("Customer care", [
            panel("Tickets past their SLA", ("max(loyalty_care_tickets_overdue)", "overdue"), kind="stat",
                  description="Not resolved by the due date of their severity (docs/care.md)"),
            panel("Tickets opened and changed per minute", ('sum by (method) (rate(loyalty_entrypoint_calls_total'
                                                            '{service="care",kind="rpc",method!~"get|page|ping"}'
                                                            '[5m])) * 60 or vector(0)', "{{method}}"),
                  description="0 when no ticket changed in the window"),
        ]),
    ])


def rabbitmq() -> dict[str, Any]:
    return dashboard("loyalty-rabbitmq", "Loyalty: RabbitMQ", [
        ("Queues", [
            panel("Ready messages per queue", ("sum by (vhost, queue) (rabbitmq_detailed_queue_messages_ready)",
                                               "{{vhost}} {{queue}}")),
            panel("Unacknowledged messages per queue", ("sum by (vhost, queue) "
                                                        "(rabbitmq_detailed_queue_messages_unacked)",
                                                        "{{vhost}} {{queue}}")),
            panel("Consumers per queue", ("sum by (vhost, queue) (rabbitmq_detailed_queue_consumers)",
                                          "{{vhost}} {{queue}}")),
        ]),
        ("Node", [
            panel("Dead letters", ('sum by (vhost) (rabbitmq_detailed_queue_messages{queue="loyalty.dead-letters"})',
                                   "{{vhost}}")),
            panel("Published and delivered per second", ("sum(rate(rabbitmq_channel_messages_published_total[5m]))",
                                                          "published"),
                  ("sum(rate(rabbitmq_channel_messages_delivered_ack_total[5m]))", "delivered"), unit="ops"),
            panel("Memory and connections", ("sum(rabbitmq_process_resident_memory_bytes) / 2^20", "MiB"),
                  ("sum(rabbitmq_connections)", "connections")),
        ]),
    ])


def postgres() -> dict[str, Any]:
    return dashboard("loyalty-postgres", "Loyalty: PostgreSQL", [
        ("Databases", [
            panel("Transactions per second", ("sum by (datname) (rate(pg_stat_database_xact_commit[5m]))",
                                              "{{datname}}"), unit="ops"),
            panel("Connections by state", ("sum by (datname, state) (pg_stat_activity_count)",
                                           "{{datname}} {{state}}")),
            panel("Database size", ("sum by (datname) (pg_database_size_bytes)", "{{datname}}"), unit="bytes"),
        ]),
        ("Health", [
            panel("Exporters up", ("pg_up", "{{database_of}}"), kind="stat"),
            panel("Cache hit ratio", ("sum by (datname) (rate(pg_stat_database_blks_hit[5m])) / (sum by (datname) "
                                      "(rate(pg_stat_database_blks_hit[5m])) + sum by (datname) "
                                      "(rate(pg_stat_database_blks_read[5m])))", "{{datname}}"), unit="percentunit"),
            panel("Locks and deadlocks", ("sum by (mode) (pg_locks_count)", "{{mode}}"),
                  ("sum(pg_stat_database_deadlocks)", "deadlocks (total)")),
        ]),
    ])


def dashboards() -> dict[str, dict[str, Any]]:
    found = {"overview": overview(), "gateway": gateway(), "business": business(), "rabbitmq": rabbitmq(),
             "postgres": postgres()}
    for name in ("members", "points", "campaigns", "notify"):
        found[name] = service(name)
    return found


def render() -> dict[Path, str]:
    return {HERE / "dashboards" / f"{name}.json": json.dumps(body, indent=2, ensure_ascii=False) + "\n"
            for name, body in dashboards().items()}


def main(argv: list[str]) -> int:
    rendered = render()
    stale = [path for path, text in rendered.items() if not path.exists() or path.read_text() != text]
    extra = set((HERE / "dashboards").glob("*.json")) - set(rendered)
    if "--check" in argv:
        for path in stale + sorted(extra):
            print(f"{path} differs from deploy/grafana/generate.py: run it", file=sys.stderr)
        return 1 if stale or extra else 0
    for path, text in rendered.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
