"""Recording and alert rules for the platform, written out as rules/recording.yml and
rules/alerts.yml (committed; `--check` fails when they differ from this file's output).

    python deploy/prometheus/rules.py          # write
    python deploy/prometheus/rules.py --check  # compare

The SLOs (docs/slo.md) are measured by the ``loyalty:*`` recording rules and guarded by
multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5): a fast burn pages
(14.4x over 1 h and 5 m, 6x over 6 h and 30 m), a slow one opens a ticket (3x over 1 d
and 2 h, 1x over 3 d and 6 h).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
RUNBOOKS = "docs/runbooks/"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
SERVICE_JOBS = "gateway|members|points|campaigns|notify|catalog|feed|care|fraud|analytics"
# business outcomes an RPC answers with on purpose: not errors of the service
EXPECTED_OUTCOMES = "ok|InvalidInput|NotFound|Forbidden|Conflict|InsufficientPoints"
HTTP_NOT_API = "/metrics|/healthz|/readyz|unmatched"
SALE = 'method="POST",route="/v1/points/sales"'

# name: (SLO target, bad-ratio record prefix, grouping labels)
SLOS = {
    "rpc": (0.999, "loyalty:rpc_error_ratio", "service"),
    "api": (0.9995, "loyalty:http_error_ratio", ""),
    "sale_latency": (0.999, "loyalty:sale_slow_ratio", ""),
}
BURNS = (  # severity, ((long window, short window, burn rate), ...), for
    ("critical", (("1h", "5m", 14.4), ("6h", "30m", 6)), "2m"),
    ("warning", (("1d", "2h", 3), ("3d", "6h", 1)), "1h"),
)


def recording() -> dict[str, Any]:
    rules: list[dict[str, str]] = []
    for w in WINDOWS:
        rules += [
            {"record": f"loyalty:rpc_requests:rate{w}",
             "expr": f'sum by (service) (rate(loyalty_entrypoint_calls_total{{kind="rpc"}}[{w}]))'},
            {"record": f"loyalty:rpc_errors:rate{w}",
             "expr": f'sum by (service) (rate(loyalty_entrypoint_calls_total{{kind="rpc",'
                     f'outcome!~"{EXPECTED_OUTCOMES}"}}[{w}]))'},
            {"record": f"loyalty:rpc_error_ratio:rate{w}",
             "expr": f"loyalty:rpc_errors:rate{w} / loyalty:rpc_requests:rate{w}"},
            {"record": f"loyalty:http_error_ratio:rate{w}",
             "expr": f'sum(rate(loyalty_http_requests_total{{route!~"{HTTP_NOT_API}",status=~"5.."}}[{w}]))'
                     f' / sum(rate(loyalty_http_requests_total{{route!~"{HTTP_NOT_API}"}}[{w}]))'},
            {"record": f"loyalty:sale_slow_ratio:rate{w}",
             "expr": f'1 - sum(rate(loyalty_http_request_duration_seconds_bucket{{{SALE},le="0.1"}}[{w}]))'
                     f' / sum(rate(loyalty_http_request_duration_seconds_count{{{SALE}}}[{w}]))'},
        ]
    rules += [
        {"record": "loyalty:http_requests:rate1m",
         "expr": f'sum by (route, method) (rate(loyalty_http_requests_total{{route!~"{HTTP_NOT_API}"}}[1m]))'},
        {"record": "loyalty:http_latency_seconds:p99_5m",
         "expr": "histogram_quantile(0.99, sum by (route, method, le) "
                 f'(rate(loyalty_http_request_duration_seconds_bucket{{route!~"{HTTP_NOT_API}"}}[5m])))'},
        {"record": "loyalty:sales:rate1m",
         "expr": f"sum(rate(loyalty_http_requests_total{{{SALE},status=~\"2..\"}}[1m]))"},
        {"record": "loyalty:entrypoint_latency_seconds:p99_5m",
         "expr": "histogram_quantile(0.99, sum by (service, kind, method, le) "
                 "(rate(loyalty_entrypoint_duration_seconds_bucket[5m])))"},
        {"record": "loyalty:db_pool_saturation",
         "expr": "sum by (job, database) (loyalty_db_pool_in_use) / sum by (job, database) (loyalty_db_pool_capacity)"},
        {"record": "loyalty:process_cpu_cores:rate5m",
         "expr": f'sum by (job) (rate(process_cpu_seconds_total{{job=~"{SERVICE_JOBS}"}}[5m]))'},
    ]
    return {"groups": [{"name": "loyalty-slo", "rules": rules}]}


def alert(name: str, expr: str, severity: str, summary: str, runbook: str, for_: str = "5m",
          description: str = "") -> dict[str, Any]:
    rule: dict[str, Any] = {"alert": name, "expr": expr, "for": for_, "labels": {"severity": severity},
                            "annotations": {"summary": summary, "runbook_url": RUNBOOKS + runbook + ".md"}}
    if description:
        rule["annotations"]["description"] = description
    return rule


def burn_alerts() -> list[dict[str, Any]]:
    rules = []
    titles = {"rpc": "RPC error budget of {{ $labels.service }}", "api": "API availability error budget",
              "sale_latency": "till sale latency budget (100 ms)"}
    for slo, (target, record, _by) in SLOS.items():
        budget = round(1 - target, 6)
        for severity, pairs, for_ in BURNS:
            speed = "Fast" if severity == "critical" else "Slow"
            name = "Loyalty" + "".join(part.title() for part in slo.split("_")) + f"BudgetBurn{speed}"
            expr = " or ".join(f"({record}:rate{long_w} > ({rate} * {budget})"
                                  f" and {record}:rate{short_w} > ({rate} * {budget}))"
                                  for long_w, short_w, rate in pairs)
            fastest = pairs[0]
            rules.append(alert(
                name, expr, severity,
                f"{titles[slo]} burning {fastest[2]}x or more over {fastest[0]} (and {fastest[1]})",
                "slo-burn", for_,
                f"At {fastest[2]}x the 30-day error budget ({budget:.4%} of requests) lasts "
                f"{30 / fastest[2]:.1f} days."))
    return rules


def expiry_alerts() -> list[dict[str, Any]]:
    """Secrets past their rotation date and certificates near notAfter (service_runtime/expiry.py);
    ``min by`` so one replica still holding an old key or certificate is the one that counts."""
    due = "min by (secret) (loyalty_secret_rotation_due_timestamp_seconds) - time()"
    cert = "min by (cert) (loyalty_tls_cert_not_after_timestamp_seconds) - time()"
    return [
        alert("LoyaltySecretRotationDue", f"{due} < 14 * 86400 and {due} > 0", "warning",
              "{{ $labels.secret }} is due for rotation in {{ $value | humanizeDuration }}", "secret-expiry", "1h"),
        alert("LoyaltySecretRotationOverdue", f"{due} <= 0", "warning",
              "{{ $labels.secret }} is past its rotation date: rotate it", "secret-expiry", "1h"),
        alert("LoyaltyTLSCertExpiringSoon", f"{cert} < 21 * 86400", "warning",
              "TLS certificate {{ $labels.cert }} expires within 21 days", "secret-expiry", "1h",
              "Seconds left: {{ $value }} (negative: expired or unreadable)."),
        # a certificate that lapses stops the connections that use it: page while there is time
        alert("LoyaltyTLSCertExpiring", f"{cert} < 3 * 86400", "critical",
              "TLS certificate {{ $labels.cert }} expires within 3 days, has expired or cannot be read",
              "secret-expiry", "5m", "Seconds left: {{ $value }}."),
    ]


def alerts() -> dict[str, Any]:
    availability = [
        alert("LoyaltyServiceDown", f'up{{job=~"{SERVICE_JOBS}"}} == 0', "critical",
              "{{ $labels.job }} replica {{ $labels.instance }} does not answer scrapes", "service-down", "1m"),
        alert("LoyaltyPostgresDown", "pg_up == 0", "critical",
              "PostgreSQL does not answer the exporter of {{ $labels.database_of }}", "postgres-down", "1m"),
        alert("LoyaltyQueueWithoutConsumer",
              'rabbitmq_detailed_queue_consumers{queue=~"evt-.*|rpc-.*"} == 0', "critical",
              "{{ $labels.queue }} has no consumer: its service is down or disconnected", "queue-without-consumer",
              "5m"),
        alert("LoyaltyRabbitMQAlarm",
              "max(rabbitmq_alarms_memory_used_watermark) + max(rabbitmq_alarms_free_disk_space_watermark) > 0",
              "critical", "RabbitMQ raised a memory or disk alarm: publishers are blocked", "rabbitmq-alarm", "1m"),
    ]
    pipelines = [
        alert("LoyaltyOutboxBacklog",
              "loyalty_outbox_unpublished > 1000 and deriv(loyalty_outbox_unpublished[10m]) > 0",
              "warning", "{{ $value }} events wait in the outbox of {{ $labels.database_of }} and the backlog grows",
              "outbox-backlog", "10m"),
        alert("LoyaltyOutboxOldestEventOld", "loyalty_outbox_oldest_age_seconds > 120", "critical",
              "The oldest unpublished event of {{ $labels.database_of }} is {{ $value | humanizeDuration }} old",
              "outbox-oldest-event", "5m"),
        alert("LoyaltyOutboxRelayFailing", "sum by (service) (rate(loyalty_outbox_relay_errors_total[5m])) > 0",
              "warning", "The outbox relay of {{ $labels.service }} keeps failing batches", "outbox-relay-failing",
              "10m"),
        alert("LoyaltyDeadLetters", 'rabbitmq_detailed_queue_messages{queue="loyalty.dead-letters"} > 0', "warning",
              "{{ $value }} events were dead-lettered (a handler failed them repeatedly)", "dead-letters", "1m"),
        alert("LoyaltyNotifyDeadLetters", "max(loyalty_notify_dlq_depth) > 0", "warning",
              "{{ $value }} notifications are in notify's dead-letter list", "notify-dead-letters", "5m"),
        alert("LoyaltyEventConsumerLag",
              'rabbitmq_detailed_queue_messages_ready{queue=~"evt-.*"} > 1000'
              ' and deriv(rabbitmq_detailed_queue_messages_ready{queue=~"evt-.*"}[10m]) >= 0',
              "warning", "{{ $labels.queue }} has {{ $value }} events waiting and is not catching up",
              "event-consumer-lag", "10m"),
        alert("LoyaltyRPCQueueBacklog", 'rabbitmq_detailed_queue_messages_ready{queue=~"rpc-.*"} > 200', "warning",
              "{{ $labels.queue }}: {{ $value }} RPC calls wait for a worker (scale the service)", "rpc-queue-backlog",
              "5m"),
    ]
    resources = [
        alert("LoyaltyDBPoolExhausted", "avg_over_time(loyalty:db_pool_saturation[5m]) > 0.9", "warning",
              "{{ $labels.job }} uses {{ $value | humanizePercentage }} of its pool to {{ $labels.database }}",
              "db-pool-exhausted", "5m"),
        # three runs missed (and 10 minutes more): one failed run is noise, a stopped sync is not
        alert("LoyaltyErpSyncStale",
              "min by (connection) (loyalty_erp_last_success_age_seconds) > on (connection) "
              "(3 * max by (connection) (loyalty_erp_sync_interval_seconds) + 600)", "warning",
              "ERP connection {{ $labels.connection }} has not synced for {{ $value | humanizeDuration }}",
              "erp-sync-stale", "10m"),
        alert("LoyaltyImportJobStuck",
              "loyalty_import_jobs_running > 0 and changes(loyalty_import_jobs_rows_done[15m]) == 0", "warning",
              "A member import has made no progress for 15 minutes", "import-job-stuck", "5m"),
        alert("LoyaltyCouponJobStuck",
              "loyalty_coupon_jobs_open > 0 and changes(loyalty_coupon_jobs_position_sum[15m]) == 0", "warning",
              "A coupon issue job has made no progress for 15 minutes", "coupon-job-stuck", "5m"),
        alert("LoyaltyNotifyBreakerOpen", "max by (channel) (loyalty_notify_breaker_open) == 1", "warning",
              "The {{ $labels.channel }} provider's circuit breaker is open: messages wait", "notify-breaker-open",
              "5m"),
        alert("LoyaltyGatewayRateLimitsPerProcess",
              'sum by (instance) (rate(loyalty_gateway_ratelimit_fallback_total{job="gateway"}[5m])) > 0', "warning",
              "Gateway {{ $labels.instance }} cannot reach Redis: its rate limits are per replica",
              "gateway-rate-limits-per-process", "10m"),
        alert("LoyaltyAuditSealingBehind", "loyalty_audit_oldest_unsealed_seconds > 60", "warning",
              "Audit entries wait {{ $value | humanizeDuration }} to be chained", "audit-sealing-behind", "5m"),
        # any at all: a field that does not decrypt is a key mix-up or a tampered row, never noise
        alert("LoyaltyMembersUnreadableFields",
              "sum by (field) (increase(loyalty_members_unreadable_fields_total[15m])) > 0", "warning",
              "Some members' {{ $labels.field }} does not decrypt: they are listed as unreadable",
              "members-unreadable-fields", "1m"),
    ]
    return {"groups": [
        {"name": "loyalty-availability", "rules": availability},
        {"name": "loyalty-expiry", "rules": expiry_alerts()},
        {"name": "loyalty-slo-burn", "rules": burn_alerts()},
        {"name": "loyalty-pipelines", "rules": pipelines},
        {"name": "loyalty-resources", "rules": resources},
    ]}


def render() -> dict[Path, str]:
    header = "# Generated by deploy/prometheus/rules.py: edit that file, then run it.\n"
    return {HERE / "rules" / "recording.yml": header + yaml.safe_dump(recording(), sort_keys=False, width=120),
            HERE / "rules" / "alerts.yml": header + yaml.safe_dump(alerts(), sort_keys=False, width=120)}


def main(argv: list[str]) -> int:
    stale = [path for path, text in render().items() if not path.exists() or path.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path} differs from deploy/prometheus/rules.py: run it", file=sys.stderr)
        return 1 if stale else 0
    for path, text in render().items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
