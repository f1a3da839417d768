"""Benchmark of the ERP sync and reconciliation, against the local Odoo of the tests (JSON-2 over HTTP on
this machine: no real ERP runs here, so the ERP's own time is near zero and what is measured is ours).

    python -m bench.erp_sync [SCALE=small|medium|large]   (2,000 / 10,000 / 50,000 products; 1,000 / 5,000 /
                                                           10,000 sales in one store's day)

Starts the platform as `make run` does, declares an Odoo connection through the gateway and measures:
- erp_master_sync_records_per_s: a full sync (categories, a store, products) from POST .../run to the
  run's end, records read per second;
- erp_master_sync_lag_p50_ms / _p99_ms: an ERP price change to the new price in GET /v1/products/{sku},
  with an operator's POST .../run (the scheduler's tick, CATALOG_ERP_TICK_SECONDS, is most of it);
- reconciliation_store_day_ms: GET /v1/reconciliation/stores/{code}/days/{day} for a day with that many
  ERP sales, all accrued in points through the offline-upload route (10 differences planted).
"""
from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench.platform import bench, percentile, running_platform
from tests.erp_servers.odoo import OdooServer
from tests.erp_servers.records import past

SCALES = {"small": (2_000, 1_000), "medium": (10_000, 5_000), "large": (50_000, 10_000)}
KEY = "bench-odoo-key"
ZONE = "Asia/Shanghai"


def seed(odoo: OdooServer, products: int, sales: int, sold_at: datetime) -> None:
    odoo.put("product.category", {"id": 1, "name": "All", "parent_id": False}, past(7200))
    odoo.put("pos.config", {"id": 1, "name": "Bench shop", "active": True}, past(7200))
    for n in range(1, products + 1):
        odoo.put("product.product", {"id": n, "default_code": f"B-{n}", "name": f"Item {n}", "categ_id": [1, "All"],
                                     "list_price": 1 + n % 500 / 100, "active": True}, past(3600))
    for n in range(1, sales + 1):
        odoo.put("pos.order", {"id": n, "name": f"Order {n}", "pos_reference": f"R-{n:06d}", "config_id": [1, "x"],
                               "date_order": sold_at.strftime("%Y-%m-%d %H:%M:%S"), "amount_total": 10 + n % 90,
                               "partner_id": False, "lines": [], "state": "paid"}, past(3600))


def wait_run(http: httpx.Client, name: str, after: int | None) -> dict[str, Any]:
    while True:
        status = http.get(f"/v1/sync/connections/{name}").json()
        run = status["last_run"]
        if run and run["id"] != after and run["status"] != "running":
            return run  # type: ignore[no-any-return]
        time.sleep(0.02)


def main() -> None:
    products, sales = SCALES[os.environ.get("SCALE", "small")]
    sold_at = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
    day = sold_at.astimezone(ZoneInfo(ZONE)).date()
    odoo = OdooServer(api_key=KEY)
    seed(odoo, products, sales, sold_at)
    os.environ["ERP_SECRET_BENCH_ODOO"] = KEY  # the platform's catalog reads it from its environment
    with running_platform("erpsync") as (base, token, _env), \
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        name = "odoo-bench"
        http.put(f"/v1/sync/connections/{name}", json={
            "kind": "odoo_json2", "base_url": odoo.url, "database": "chain", "credentials_ref": "ERP_SECRET_BENCH_ODOO",
            "page_size": 500, "enabled": False, "options": {"time_zone": ZONE, "kinds": ["category", "store", "product",
                                                                                          "sale"]}}).raise_for_status()
        started = time.perf_counter()
        http.post(f"/v1/sync/connections/{name}/run").raise_for_status()
        run = wait_run(http, name, None)
        elapsed = time.perf_counter() - started
        assert run["status"] == "succeeded", run
        print(f"# full sync: {run['rows_in']} records in {elapsed:.1f} s ({products} products, {sales} sales)")
        bench("erp_master_sync_records_per_s", run["rows_in"] / elapsed, "records/s")

        lags = []
        for i in range(20):
            sku, price = f"B-{i + 1}", f"{700 + i}.00"
            odoo.put("product.product", {"id": i + 1, "list_price": 700 + i})
            changed = time.perf_counter()
            http.post(f"/v1/sync/connections/{name}/run").raise_for_status()
            while http.get(f"/v1/products/{sku}").json().get("unit_price") != price:
                time.sleep(0.01)
            lags.append((time.perf_counter() - changed) * 1000)
            wait_run(http, name, None)
        bench("erp_master_sync_lag_p50_ms", percentile(lags, 0.5), "ms")
        bench("erp_master_sync_lag_p99_ms", percentile(lags, 0.99), "ms")

        member = http.post("/v1/members", json={"name": "Bench", "phone": f"137{uuid.uuid4().int % 10**8:08d}",
                                                "registration_store": f"{name}-pos-1"}).json()
        member_id = member["member"]["member_id"] if "member" in member else member["member_id"]
        store = f"{name}-pos-1"
        for start in range(1, sales + 1, 1000):
            items = [{"kind": "sale", "member_id": member_id, "store": store, "transaction_id": f"R-{n:06d}",
                      "amount": f"{10 + n % 90 + (1 if n % (sales // 10) == 0 else 0)}.00", "currency": "CNY",
                      "items": [], "sold_at": sold_at.isoformat()} for n in range(start, min(start + 1000, sales + 1))]
            http.post("/v1/points/sales/batch", json={"items": items}).raise_for_status()
        times = []
        for _ in range(5):
            began = time.perf_counter()
            report = http.get(f"/v1/reconciliation/stores/{store}/days/{day.isoformat()}")
            times.append((time.perf_counter() - began) * 1000)
            report.raise_for_status()
        body = report.json()
        print(f"# reconciliation of {body['erp_count']} ERP sales against {body['ledger_count']} accrued: "
              f"{body['matched']} matched, {len(body['mismatched'])} mismatched (10 planted)")
        bench("reconciliation_store_day_ms", percentile(times, 0.5), "ms")
    odoo.close()


if __name__ == "__main__":
    main()
