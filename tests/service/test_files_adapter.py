"""The files adapter on a real OpenSSH server (a private sshd), the real database and broker:
stores, categories and products from CSV, JSON Lines and XLSX; a malformed row reported with its
line and field while the rest go on; a rerun (and the same content under another name) creating
nothing twice; a run stopped mid-file resuming at its cursor; historical sales that are recorded
but earn nothing; members through the members import."""
from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from contracts.errors import Conflict, Forbidden, InvalidInput
from service_runtime.config import database_url
from tests.helpers import query, scalar
from tests.service.files_support import ADMIN, CLERK, ERP, drop, put_csv, put_jsonl, put_xlsx, sshd  # noqa: F401
from tests.service.notify_support import call
from tests.service.points_support import invariant_violations, open_account


def _catalog_sql(sql: str, **params: object) -> None:
    engine = sa.create_engine(database_url("catalog"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def _tag() -> str:
    return uuid.uuid4().hex[:6].upper()


def _runs(catalog, names: list[str]) -> dict[str, dict]:
    runs = call(catalog, "file_runs", caller=ADMIN, limit=200)
    return {r["name"]: r for r in runs if r["name"] in names}


def _errors(catalog, run_id: str) -> list[tuple[int, str | None]]:
    return [(e["line"], e["field"]) for e in call(catalog, "file_errors", caller=ADMIN, run_id=run_id)]


def test_master_data_from_csv_jsonl_and_xlsx_bad_rows_reported_rerun_creates_nothing(drop, start_service):  # noqa: F811
    catalog = start_service("catalog")
    t = _tag()
    cats = put_csv(drop, f"categories-{t}.csv", ["code", "name", "parent"],
                   [[f"FOOD{t}", "Food", ""], [f"DAIRY{t}", "Dairy", f"FOOD{t}"], [f"X{t}", "Orphan", "NOWHERE"]],
                   raw_tail="only,two\n")
    stores = put_jsonl(drop, f"stores-{t}.jsonl", [
        {"code": f"SH{t}", "name": "Nanjing Road", "time_zone": "Asia/Shanghai", "currency": "CNY", "status": "open",
         "version": 3},
        {"code": f"TK{t}", "name": "Ginza", "time_zone": "Mars/Olympus", "currency": "JPY", "status": "open"},
        "{not json",
        {"code": f"HK{t}", "name": "Central", "time_zone": "Asia/Hong_Kong", "currency": "HKD", "status": "open"}])
    products = put_xlsx(drop, f"products-{t}.xlsx",
                        ["sku", "name", "category", "unit_price", "excluded_from_earning"],
                        [[f"MILK{t}", "Milk 1L", f"DAIRY{t}", "12.50", "false"],
                         [f"CIG{t}", "Cigarettes", f"FOOD{t}", "30", "true"],
                         [f"BAD{t}", "Bad price", f"FOOD{t}", "twelve", "false"]])
    names = [cats.name, stores.name, products.name]
    outcome = call(catalog, "files_sync", caller=ERP)
    assert outcome["registered"] == 3 and outcome["finished"] == 3
    runs = _runs(catalog, names)
    assert {n: (r["status"], r["rows_ok"], r["rows_failed"]) for n, r in runs.items()} == {
        cats.name: ("done", 2, 2), stores.name: ("done", 2, 2), products.name: ("done", 2, 1)}
    assert _errors(catalog, runs[cats.name]["run_id"]) == [(4, "parent"), (5, None)]
    assert _errors(catalog, runs[stores.name]["run_id"]) == [(2, "time_zone"), (3, None)]
    assert _errors(catalog, runs[products.name]["run_id"]) == [(4, "unit_price")]
    milk = call(catalog, "get", caller=CLERK, kind="product", key=f"MILK{t}")
    assert (milk["unit_price"], milk["category_path"], milk["source"]) == ("12.50", [f"FOOD{t}", f"DAIRY{t}"], "sftp")
    assert call(catalog, "get", caller=CLERK, kind="product", key=f"CIG{t}")["excluded_from_earning"] is True
    assert call(catalog, "get", caller=CLERK, kind="store", key=f"SH{t}")["source_version"] == 3

    again = call(catalog, "files_sync", caller=ADMIN)  # the same files: nothing new
    assert again["registered"] == 0 and again["batches"] == 0
    cats.touch()  # the same content with a new mtime: a new run that sends nothing
    call(catalog, "files_sync", caller=ADMIN)
    touched = [r for r in call(catalog, "file_runs", caller=ADMIN, limit=200) if r["name"] == cats.name]
    assert sorted(r["status"] for r in touched) == ["done", "skipped"]
    assert scalar("catalog", "SELECT version FROM categories WHERE code = :c", c=f"DAIRY{t}") == 1
    events = query("catalog", "SELECT count(*) FROM outbox WHERE event_type = 'store.changed' "
                              "AND body->'payload'->'store'->>'code' = :c", c=f"SH{t}")
    assert events[0][0] == 1
    with pytest.raises(Forbidden):
        call(catalog, "files_sync", caller=CLERK)


def _sales_rows(members: list[str], t: str, count: int, start: datetime) -> list[list[str]]:
    return [[f"S{t}", f"T{t}-{i:05d}", "", members[i % len(members)], f"{10 + i % 90}.50", "CNY",
             (start + timedelta(minutes=i)).isoformat()] for i in range(count)]


SALE_HEADER = ["store", "transaction_id", "member_id", "member_number", "amount", "currency", "sold_at"]


def test_history_sales_are_recorded_earn_nothing_and_a_stopped_run_resumes(drop, start_service):  # noqa: F811
    start_service("members")  # asked about the card nobody holds
    start_service("points")
    catalog = start_service("catalog")
    t = _tag()
    members = [open_account()[1] for _ in range(5)]
    rows = _sales_rows(members, t, 2500, datetime(2024, 3, 1, 2, 0, tzinfo=UTC))
    rows[10][4] = "abc"                 # malformed amount: line 12
    rows[1500][3] = "800000000000"      # nobody's card: line 1502
    path = put_csv(drop, f"sales-{t}.csv", SALE_HEADER, rows)
    first = call(catalog, "files_sync", caller=ADMIN, budget=1)  # stops after one batch of 1000
    assert first["paused"] and first["batches"] == 1
    run = _runs(catalog, [path.name])[path.name]
    assert (run["status"], run["next_batch"], run["mode"]) == ("pending", 1, "history")
    assert scalar("points", "SELECT count(*) FROM sales WHERE store = :s", s=f"S{t}") == 999
    # as a worker killed mid-file leaves it: held by its owner until the lease runs out
    _catalog_sql("UPDATE file_runs SET owner = 'killed-worker', lease_until = now() + interval '1 hour' "
                 "WHERE id = :r", r=run["run_id"])
    assert call(catalog, "files_sync", caller=ADMIN)["batches"] == 0
    _catalog_sql("UPDATE file_runs SET lease_until = now() - interval '1 second' WHERE id = :r", r=run["run_id"])
    rest = call(catalog, "files_sync", caller=ADMIN)  # the lease ran out: another worker resumes at batch 1
    assert rest["batches"] == 2 and rest["finished"] == 1
    run = _runs(catalog, [path.name])[path.name]
    assert (run["status"], run["rows_ok"], run["rows_failed"]) == ("done", 2498, 2)
    assert _errors(catalog, run["run_id"]) == [(12, "amount"), (1502, "member_number")]
    recorded = query("points", "SELECT count(*), sum(points), bool_and(history), sum(amount) FROM sales "
                               "WHERE store = :s", s=f"S{t}")[0]
    assert recorded[0] == 2498 and recorded[1] == 0 and recorded[2] is True
    numbers = tuple(members)
    assert scalar("points", "SELECT count(*) FROM ledger l JOIN accounts a USING (member_id) "
                            "WHERE a.member_number IN :n", n=numbers) == 0
    assert scalar("points", "SELECT sum(balance) FROM accounts WHERE member_number IN :n", n=numbers) == 0
    accrued = query("points", "SELECT body->'payload' AS p FROM outbox WHERE event_type = 'points.accrued' "
                              "AND body->'payload'->>'store' = :s", s=f"S{t}")
    assert len(accrued) == 2498 and {r.p["points"] for r in accrued} == {0}  # RFM sees the purchases

    # the same sales again under another name, with one more: only that one is new
    extra = _sales_rows(members, t, 2501, datetime(2024, 3, 1, 2, 0, tzinfo=UTC))
    extra[10][4] = "abc"
    extra[1500][3] = "800000000000"
    put_csv(drop, f"sales-{t}-resent.csv", SALE_HEADER, extra)
    call(catalog, "files_sync", caller=ADMIN)
    assert scalar("points", "SELECT count(*) FROM sales WHERE store = :s", s=f"S{t}") == 2499
    assert invariant_violations() == []


def test_accrual_mode_earns_through_the_offline_upload(drop, start_service):  # noqa: F811
    start_service("points")
    catalog = start_service("catalog")
    t = _tag()
    member_id, _ = open_account()
    now = datetime.now(UTC) - timedelta(hours=1)
    put_jsonl(drop, f"sales.accrual-{t}.jsonl", [
        {"store": f"S{t}", "transaction_id": f"A{t}-1", "member_id": member_id, "amount": 100, "sold_at":
         now.isoformat(), "items": [{"sku": "MILK", "category": "dairy", "amount": "100.00"}]},
        {"store": f"S{t}", "transaction_id": f"A{t}-2", "member_id": member_id, "amount": "50.00",
         "sold_at": now.isoformat(), "colour": "red"}])
    call(catalog, "files_sync", caller=ADMIN)
    run = [r for r in call(catalog, "file_runs", caller=ADMIN) if r["name"] == f"sales.accrual-{t}.jsonl"][0]
    assert (run["rows_ok"], run["rows_failed"], run["mode"]) == (1, 1, "accrual")
    assert _errors(catalog, run["run_id"]) == [(2, "colour")]
    assert scalar("points", "SELECT points FROM sales WHERE transaction_id = :t", t=f"A{t}-1") > 0
    assert scalar("points", "SELECT balance FROM accounts WHERE member_id = :m", m=member_id) > 0
    assert invariant_violations(member_id) == []


def test_members_file_goes_through_the_members_import(drop, start_service):  # noqa: F811
    start_service("members")
    catalog = start_service("catalog")
    t = _tag()
    digits = f"{uuid.uuid4().int % 10**8:08d}"
    path = put_csv(drop, f"members-{t}.csv", ["external_id", "name", "phone", "registration_store"],
                   [[f"E{t}1", "Zhang San", f"139{digits}", "S1"], [f"E{t}2", "Li Si", "not-a-phone", "S1"],
                    [f"E{t}3", "Wang Wu", f"138{digits}", "S1"]])
    call(catalog, "files_sync", caller=ADMIN)
    run = _runs(catalog, [path.name])[path.name]
    assert (run["status"], run["rows_ok"], run["rows_failed"]) == ("done", 2, 1)
    assert _errors(catalog, run["run_id"]) == [(3, "phone")]
    job = query("members", "SELECT rows_created, status FROM import_jobs WHERE id = :j", j=run["target_ref"])[0]
    assert (job.rows_created, job.status) == (2, "done")


def test_an_uploaded_file_runs_like_a_dropped_one(drop, start_service):  # noqa: F811
    catalog = start_service("catalog")
    t = _tag()
    body = (f"code,name,time_zone,currency,status\nU{t}1,Upload One,Asia/Shanghai,CNY,open\n"
            f"U{t}2,Upload Two,Asia/Nowhere,CNY,open\n").encode()
    run = call(catalog, "upload_open", caller=ERP, name="stores-upload.csv", kind="stores", format="csv")
    assert run["status"] == "uploading"
    half = len(body) // 2
    for seq, part in enumerate((body[:half], body[half:])):  # chunks, as the gateway streams them
        call(catalog, "upload_chunk", caller=ERP, run_id=run["run_id"], seq=seq,
             data=base64.b64encode(part).decode())
    closed = call(catalog, "upload_close", caller=ERP, run_id=run["run_id"], size=len(body),
                  sha256=hashlib.sha256(body).hexdigest())
    assert closed["status"] == "pending"
    with pytest.raises(Conflict):  # closed: no more chunks
        call(catalog, "upload_chunk", caller=ERP, run_id=run["run_id"], seq=2, data="")
    call(catalog, "files_sync", caller=ERP)
    done = call(catalog, "file_run", caller=ERP, run_id=run["run_id"])
    assert (done["status"], done["rows_ok"], done["rows_failed"], done["source"]) == ("done", 1, 1, "api")
    assert _errors(catalog, run["run_id"]) == [(3, "time_zone")]
    assert call(catalog, "get", caller=CLERK, kind="store", key=f"U{t}1")["source"] == "api"
    assert scalar("catalog", "SELECT count(*) FROM file_chunks WHERE run_id = :r", r=run["run_id"]) == 0
    with pytest.raises(InvalidInput) as bad:
        call(catalog, "upload_open", caller=ERP, name="sales.csv", kind="sales")
    assert bad.value.field == "mode"
