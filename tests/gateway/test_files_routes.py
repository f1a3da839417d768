"""The files and migration routes in front of the catalog and points services: who may upload,
run and approve; an upload streamed to the catalog in chunks with its size and hash; bad input
named; each decision audited (a stand-in answers for the services; the services themselves:
tests/service/test_files_adapter.py and test_points_migration.py)."""
from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import pytest

from tests.gateway.conftest import audit_count
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

RUN = {"run_id": str(uuid.uuid4()), "source": "api", "name": "sales-2024.csv", "size": 0, "kind": "sales",
       "mode": "history", "format": "csv", "status": "uploading", "next_batch": 0, "rows_ok": 0, "rows_failed": 0,
       "target_ref": None, "attempts": 0, "last_error": None, "sha256": None,
       "created_at": "2026-12-05T08:00:00Z", "finished_at": None}
MIGRATION = {"import_id": str(uuid.uuid4()), "kind": "balances", "source": "legacy", "note": None,
             "status": "approved", "created_by": "a-1", "approved_by": "a-2", "rows_staged": 3, "rows_failed": 0,
             "rows_applied": 0, "points_total": 0, "created_at": "2026-12-05T08:00:00Z",
             "approved_at": "2026-12-05T09:00:00Z", "applied_at": None}
BODY = b"store,transaction_id,member_number,amount,sold_at\nS1,T1,812345678901,10.00,2024-05-01T10:00:00+08:00\n"


def _closed(kw: dict[str, Any]) -> dict[str, Any]:
    return {**RUN, "status": "pending", "size": kw["size"], "sha256": kw["sha256"]}


@pytest.mark.parametrize("who,allowed", [("admin", True), ("erp", True), ("manager", False), ("clerk", False),
                                         ("pos", False), ("member", False)])
def test_admins_and_erp_keys_upload_a_file_streamed_to_the_catalog(client, callers, engine, fake, who,  # noqa: F811
                                                                   allowed):
    services = fake({("catalog", "upload_open"): RUN, ("catalog", "upload_chunk"): None,
                     ("catalog", "upload_close"): _closed})
    before = audit_count(engine, "files.uploaded")
    response = client.post("/v1/files/uploads?kind=sales&mode=history&name=sales-2024.csv",
                           headers={**callers[who], "Content-Type": "text/csv"}, content=BODY)
    assert response.status_code == (202 if allowed else 403), response.text
    if not allowed:
        assert services.methods() == []
        return
    assert services.methods() == ["catalog.upload_open", "catalog.upload_chunk", "catalog.upload_close"]
    opened, chunk, closed = (call[2] for call in services.calls)
    assert (opened["kind"], opened["mode"], opened["format"]) == ("sales", "history", "csv")
    assert base64.b64decode(chunk["data"]) == BODY and chunk["seq"] == 0
    assert (closed["size"], closed["sha256"]) == (len(BODY), hashlib.sha256(BODY).hexdigest())
    assert response.json()["status"] == "pending"
    assert audit_count(engine, "files.uploaded") == before + 1


@pytest.mark.parametrize("query,content_type,status,field", [
    ("kind=sales&name=a.csv", "text/plain", 415, None),
    ("kind=coupons&name=a.csv", "text/csv", 422, "kind"),
    ("kind=sales&mode=maybe&name=a.csv", "text/csv", 422, "mode"),
    ("kind=sales", "text/csv", 422, "name"),
])
def test_bad_uploads_are_refused_naming_the_field(client, callers, fake, query, content_type, status,  # noqa: F811
                                                  field):
    services = fake({("catalog", "upload_open"): RUN})
    response = client.post(f"/v1/files/uploads?{query}", headers={**callers["admin"], "Content-Type": content_type},
                           content=BODY)
    assert response.status_code == status, response.text
    if field:
        assert response.json()["error"]["field"].endswith(field)
    assert services.methods() == []


@pytest.mark.parametrize("who,allowed", [("admin", True), ("erp", False), ("manager", False)])
def test_only_admins_approve_and_apply_a_migration_each_audited(client, callers, engine, fake, who,  # noqa: F811
                                                                allowed):
    services = fake({("points", "approve_migration"): MIGRATION,
                     ("points", "apply_migration"): {**MIGRATION, "status": "applied", "rows_applied": 3,
                                                     "points_total": 150500}})
    before = audit_count(engine, "migration.applied")
    import_id = MIGRATION["import_id"]
    approved = client.post(f"/v1/migrations/{import_id}/approve", headers=callers[who])
    applied = client.post(f"/v1/migrations/{import_id}/apply", headers=callers[who])
    assert (approved.status_code, applied.status_code) == ((200, 200) if allowed else (403, 403))
    if allowed:
        assert services.methods() == ["points.approve_migration", "points.apply_migration"]
        assert applied.json()["points_total"] == 150500
        assert audit_count(engine, "migration.applied") == before + 1


def test_an_erp_key_starts_and_stages_a_migration_and_runs_the_drop(client, callers, fake):  # noqa: F811
    staged = {**MIGRATION, "status": "staging", "batch_staged": 1, "batch_failed": 1,
              "batch_errors": [{"line": 3, "row_key": None, "field": "points", "message": "a whole number"}]}
    services = fake({("points", "create_migration"): {**MIGRATION, "status": "staging"},
                     ("points", "stage_migration"): staged,
                     ("catalog", "files_sync"): {"registered": 2, "finished": 1, "batches": 5, "paused": True}})
    created = client.post("/v1/migrations", headers=callers["erp"], json={"kind": "balances", "source": "legacy"})
    assert created.status_code == 201, created.text
    rows = [{"line": 2, "fields": {"member_number": "812345678901", "points": "100"}},
            {"line": 3, "fields": {"member_number": "812345678901", "points": "x"}}]
    answer = client.post(f"/v1/migrations/{MIGRATION['import_id']}/rows", headers=callers["erp"], json={"rows": rows})
    assert answer.status_code == 200 and answer.json()["batch_errors"][0]["field"] == "points"
    synced = client.post("/v1/files/sync?budget=5", headers=callers["erp"])
    assert synced.status_code == 200 and synced.json()["paused"] is True
    assert services.methods() == ["points.create_migration", "points.stage_migration", "catalog.files_sync"]
    assert services.calls[2][2] == {"budget": 5}
    bad = client.post("/v1/migrations", headers=callers["erp"], json={"kind": "coupons", "source": "legacy"})
    assert bad.status_code == 422 and bad.json()["error"]["field"].endswith("kind")
