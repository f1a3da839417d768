"""Prometheus metrics per connection (served on the catalog's metrics port with the others)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge

ROWS_IN = Counter("loyalty_erp_rows_in_total", "Records read from an ERP", ["connection", "kind"])
ROWS_OUT = Counter("loyalty_erp_rows_out_total", "Records that changed something here", ["connection", "kind"])
ERRORS = Counter("loyalty_erp_errors_total", "Source records refused (malformed or invalid)", ["connection", "kind"])
RUNS = Counter("loyalty_erp_runs_total", "Sync runs by outcome", ["connection", "status", "failure_kind"])
LAST_SUCCESS = Gauge("loyalty_erp_last_success_timestamp_seconds", "When the connection's last good run ended",
                     ["connection"])
PUSHED = Counter("loyalty_erp_pushed_total", "Records written into an ERP (customers, journal entries)",
                 ["connection", "kind"])
# from the database at every scheduler tick, so a restart or another replica never loses them
SUCCESS_AGE = Gauge("loyalty_erp_last_success_age_seconds", "Since the enabled connection's last good run ended "
                    "(since it was declared when none has)", ["connection"])
INTERVAL = Gauge("loyalty_erp_sync_interval_seconds", "The enabled connection's schedule", ["connection"])
