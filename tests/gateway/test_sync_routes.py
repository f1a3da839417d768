"""The /v1/sync routes in front of the catalog's ERP sync: only admins and ERP keys, bad declarations
refused naming the field (a secret is never accepted, only the name of its setting), a run asked for
answers 202, an unknown connection 404 (a stand-in answers for the service; the service itself and the
adapters: tests/service/test_erp_*.py)."""
from __future__ import annotations

import pytest

from services.gateway.routes_sync_examples import SYNC_EXAMPLES
from services.gateway.rpc import RemoteError
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

STATUS = SYNC_EXAMPLES["get_sync_connection"]["response"]
DECLARED = SYNC_EXAMPLES["put_sync_connection"]["request"]


@pytest.mark.parametrize("who,allowed", [("admin", True), ("erp", True), ("manager", False), ("clerk", False),
                                         ("auditor", False), ("pos", False), ("member", False)])
def test_only_admins_and_erp_keys_see_and_run_sync(client, callers, fake, who, allowed):  # noqa: F811
    services = fake({("catalog", "sync_status"): STATUS, ("catalog", "request_sync"): STATUS,
                     ("catalog", "sync_connections"): [STATUS]})
    shown = client.get("/v1/sync/connections/odoo-main", headers=callers[who])
    ran = client.post("/v1/sync/connections/odoo-main/run", headers=callers[who])
    listed = client.get("/v1/sync/connections", headers=callers[who])
    assert (shown.status_code, ran.status_code, listed.status_code) == ((200, 202, 200) if allowed else (403,) * 3)
    if allowed:
        assert shown.json()["last_run"]["failure_kind"] is None and shown.json()["cursors"][0]["kind"] == "product"
        assert listed.json() == {"items": [STATUS], "next_cursor": None}
        assert services.methods() == ["catalog.sync_status", "catalog.request_sync", "catalog.sync_connections"]
    else:
        assert services.methods() == []


def test_a_declaration_is_relayed_and_bad_ones_name_the_field(client, callers, fake):  # noqa: F811
    services = fake({("catalog", "put_connection"): STATUS})
    made = client.put("/v1/sync/connections/odoo-main", headers=callers["admin"], json=DECLARED)
    assert made.status_code == 200, made.text
    assert services.calls[0][2]["connection"]["credentials_ref"] == "ERP_SECRET_ODOO_MAIN"
    for change, field in [({"credentials_ref": "hunter2"}, "credentials_ref"), ({"kind": "sap"}, "kind"),
                          ({"base_url": "ftp://x"}, "base_url"), ({"page_size": 5000}, "page_size"),
                          ({"api_key": "secret"}, "api_key"), ({"options": {"time_zone": "Mars/Base"}}, "time_zone")]:
        refused = client.put("/v1/sync/connections/odoo-main", headers=callers["admin"], json={**DECLARED, **change})
        assert refused.status_code == 422, (change, refused.text)
        assert (refused.json()["error"].get("field") or "").endswith(field), refused.json()
    bad_name = client.put("/v1/sync/connections/Bad%20Name", headers=callers["admin"], json=DECLARED)
    assert bad_name.status_code == 422 and bad_name.json()["error"]["field"].endswith("name")
    assert len(services.calls) == 1


def test_an_unknown_connection_is_404(client, callers, fake):  # noqa: F811
    fake({("catalog", "sync_status"): RemoteError("NotFound", "no connection 'nope'", "name")})
    response = client.get("/v1/sync/connections/nope", headers=callers["admin"])
    assert response.status_code == 404 and response.json()["error"]["field"] == "name"


def test_reconciliation_answers_json_or_an_accountants_csv(client, callers, fake):  # noqa: F811
    report = SYNC_EXAMPLES["reconcile_store_day"]["response"]
    services = fake({("catalog", "reconcile"): report})
    answer = client.get("/v1/reconciliation/stores/SH-001/days/2026-12-01", headers=callers["auditor"])
    assert answer.status_code == 200 and answer.json()["mismatched"][0]["erp_amount"] == "64.00"
    assert services.calls[0][2] == {"store": "SH-001", "day": "2026-12-01"}
    sheet = client.get("/v1/reconciliation/stores/SH-001/days/2026-12-01/report.csv", headers=callers["erp"])
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    rows = sheet.text.splitlines()
    assert rows[0] == "store,SH-001,day,2026-12-01" and "ERP,412,51230.40," in rows
    assert "missing,T-20261201-000123,128.50,,,odoo-main:4711" in rows
    assert "mismatched,T-20261201-000201,64.00,46.00,46,odoo-main:4711" in rows
    assert client.get("/v1/reconciliation/stores/SH-001/days/2026-13-01", headers=callers["admin"]).status_code == 422
    assert client.get("/v1/reconciliation/stores/SH-001/days/2026-12-01", headers=callers["clerk"]).status_code == 403
    assert client.get("/v1/reconciliation/stores/SH-001/days/2026-12-01", headers=callers["pos"]).status_code == 403
