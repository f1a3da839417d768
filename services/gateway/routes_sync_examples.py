"""Written examples of the sync routes (merged into api_examples.EXAMPLES by operationId)."""
from __future__ import annotations

from typing import Any

_RUN = {"id": 42, "trigger": "timer", "status": "succeeded", "started_at": "2026-12-05T08:00:00Z",
        "finished_at": "2026-12-05T08:00:09Z", "rows_in": 312, "rows_out": 17, "error_count": 1,
        "errors": [{"kind": "product", "external_id": "981", "field": "default_code",
                    "message": "a product without an internal reference (our SKU)"}],
        "failure": None, "failure_kind": None}
_IN = {"kind": "odoo_json2", "base_url": "https://erp.example.com", "database": "chain", "username": None,
       "credentials_ref": "ERP_SECRET_ODOO_MAIN", "interval_seconds": 900, "page_size": 200, "enabled": True,
       "options": {"time_zone": "Asia/Shanghai", "currency": "CNY"}}
_STATUS = {"name": "odoo-main", **_IN, "options": {"time_zone": "Asia/Shanghai", "currency": "CNY"},
           "running": False, "next_run_at": "2026-12-05T08:15:00Z", "run_requested_at": None, "last_run": _RUN,
           "last_success_at": "2026-12-05T08:00:09Z", "lag_seconds": 75.2,
           "cursors": [{"kind": "product", "stamp": "2026-12-05 07:59:58", "key": "981",
                        "updated_at": "2026-12-05T08:00:08Z"}]}

_SALE = {"transaction_id": "T-20261201-000123", "erp_amount": "128.50", "ledger_amount": None, "points": None,
         "member_ref": "odoo-main:4711"}
RECONCILIATION = {"store": "SH-001", "day": "2026-12-01", "erp_count": 412, "erp_amount": "51230.40",
                  "ledger_count": 188, "ledger_amount": "24811.00", "ledger_points": 24811, "matched": 186,
                  "missing": [_SALE], "extra": [{**_SALE, "transaction_id": "T-20261201-000377", "erp_amount": None,
                                                 "ledger_amount": "18.00", "points": 18, "member_ref": None}],
                  "mismatched": [{**_SALE, "transaction_id": "T-20261201-000201", "erp_amount": "64.00",
                                  "ledger_amount": "46.00", "points": 46}]}

SYNC_EXAMPLES: dict[str, dict[str, Any]] = {
    "reconcile_store_day": {"response": RECONCILIATION},
    "list_sync_connections": {"response": {"items": [_STATUS], "next_cursor": None}},
    "get_sync_connection": {"response": _STATUS},
    "put_sync_connection": {"request": _IN, "response": _STATUS},
    "run_sync_connection": {"response": {**_STATUS, "run_requested_at": "2026-12-05T08:01:00Z"}},
}
