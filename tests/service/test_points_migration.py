"""Moving a chain onto the platform, on the real database and broker: a legacy program's opening
balances (lots keeping their own expiry) and tiers, dropped as files on the private sshd, staged
with per-row errors, approved by another admin (not by their creator, never by an ERP key),
applied once however often apply is called, not capped by the staff's adjustment limits."""
from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from contracts.errors import Conflict, Forbidden, InvalidInput
from services.points import inputs
from tests.helpers import query, scalar
from tests.service.files_support import ADMIN, ADMIN_2, ERP, drop, put_csv, put_xlsx, sshd  # noqa: F401
from tests.service.notify_support import call
from tests.service.points_support import invariant_violations, open_account


def _end_of_day(day: str, store: str | None) -> datetime:
    zone = ZoneInfo(inputs.zone(store))
    return datetime.combine(datetime.fromisoformat(day).date() + timedelta(days=1), time(0), zone) \
        - timedelta(microseconds=1)


def _run(catalog, name: str) -> dict:
    return next(r for r in call(catalog, "file_runs", caller=ADMIN, limit=200) if r["name"] == name)


def test_opening_balances_keep_their_expiry_and_apply_once_after_approval(drop, start_service):  # noqa: F811
    start_service("members")  # asked about the card nobody holds
    points = start_service("points")
    catalog = start_service("catalog")
    t = uuid.uuid4().hex[:6]
    (m1, n1), (m2, n2) = open_account(), open_account()
    path = put_csv(drop, f"balances-{t}.csv", ["row_key", "member_number", "points", "expires_at", "store"], [
        [f"L{t}-1", n1, "150000", "2030-06-30", "S1"],    # above the adjustment limits: not capped
        [f"L{t}-2", n1, "200", "", ""],                   # never expires
        [f"L{t}-3", n2, "300", "2031-01-01T00:00:00+00:00", "S2"],
        [f"L{t}-4", n2, "-5", "2030-01-01", "S1"],        # line 5: points
        [f"L{t}-5", n2, "10", "2001-01-01", "S1"],        # line 6: already expired
        [f"L{t}-6", "800000000000", "10", "", ""]])       # line 7: nobody's card
    call(catalog, "files_sync", caller=ERP)
    run = _run(catalog, path.name)
    assert (run["status"], run["rows_ok"], run["rows_failed"]) == ("done", 3, 3)
    import_id = run["target_ref"]
    assert [(e["line"], e["field"]) for e in call(points, "migration_errors", caller=ADMIN, import_id=import_id)] \
        == [(5, "points"), (6, "expires_at"), (7, "member_number")]
    staged = call(points, "migration_status", caller=ERP, import_id=import_id)
    assert (staged["status"], staged["rows_staged"], staged["rows_failed"]) == ("staging", 3, 3)
    assert scalar("points", "SELECT balance FROM accounts WHERE member_id = :m", m=m1) == 0  # nothing before approval

    with pytest.raises(Conflict):
        call(points, "apply_migration", caller=ADMIN, import_id=import_id)
    with pytest.raises(Forbidden):
        call(points, "approve_migration", caller=ERP, import_id=import_id)
    approved = call(points, "approve_migration", caller=ADMIN_2, import_id=import_id)
    assert (approved["status"], approved["approved_by"]) == ("approved", "a-2")
    applied = call(points, "apply_migration", caller=ADMIN, import_id=import_id)
    assert (applied["status"], applied["rows_applied"], applied["points_total"]) == ("applied", 3, 150500)
    again = call(points, "apply_migration", caller=ADMIN, import_id=import_id)
    assert again["rows_applied"] == 3
    call(catalog, "files_sync", caller=ERP)  # the file again: nothing new

    balances = dict(query("points", "SELECT member_id::text, balance FROM accounts WHERE member_id IN (:a, :b)",
                          a=m1, b=m2))
    assert balances == {m1: 150200, m2: 300}
    lots = query("points", "SELECT member_id::text, points, expires_at, store FROM lots WHERE source = 'migration' "
                           "AND member_id IN (:a, :b) ORDER BY points", a=m1, b=m2)
    assert [(r.member_id, r.points, r.expires_at, r.store) for r in lots] == [
        (m1, 200, None, None),
        (m2, 300, datetime.fromisoformat("2031-01-01T00:00:00+00:00"), "S2"),
        (m1, 150000, _end_of_day("2030-06-30", "S1"), "S1")]
    ledger = query("points", "SELECT kind, actor_id, reference FROM ledger WHERE member_id = :m ORDER BY id", m=m1)
    assert {(r.kind, r.actor_id) for r in ledger} == {("migration", "a-2")}
    assert all(r.reference.startswith(f"migration:{import_id}:") for r in ledger)
    assert invariant_violations(m1) == [] and invariant_violations(m2) == []


def test_tiers_from_xlsx_the_creator_cannot_approve_and_a_rejected_import_applies_nothing(drop, start_service):  # noqa: F811
    points = start_service("points")
    catalog = start_service("catalog")
    t = uuid.uuid4().hex[:6]
    (m1, n1), (m2, _) = open_account(), open_account()
    path = put_xlsx(drop, f"tiers-{t}.xlsx", ["member_id", "member_number", "tier"],
                    [[None, n1, "gold"], [m2, None, "diamond"]])
    call(catalog, "files_sync", caller=ADMIN)  # the import is created by a-1, who ran the sync
    run = _run(catalog, path.name)
    assert (run["rows_ok"], run["rows_failed"]) == (1, 1)
    import_id = run["target_ref"]
    assert call(points, "migration_errors", caller=ADMIN, import_id=import_id)[0]["field"] == "tier"
    with pytest.raises(Forbidden):
        call(points, "approve_migration", caller=ADMIN, import_id=import_id)
    call(points, "approve_migration", caller=ADMIN_2, import_id=import_id)
    call(points, "apply_migration", caller=ADMIN, import_id=import_id)
    assert scalar("points", "SELECT tier FROM accounts WHERE member_id = :m", m=m1) == "gold"
    assert scalar("points", "SELECT count(*) FROM outbox WHERE event_type = 'tier.changed' "
                            "AND body->'payload'->>'member_id' = :m AND body->'payload'->>'reason' = 'migration'",
                  m=m1) == 1

    own = call(points, "create_migration", caller=ADMIN, kind="balances", source="legacy")
    call(points, "stage_migration", caller=ADMIN, import_id=own["import_id"],
         rows=[{"line": 2, "fields": {"member_id": m2, "points": "5"}}])
    rejected = call(points, "approve_migration", caller=ADMIN_2, import_id=own["import_id"], reject=True)
    assert rejected["status"] == "rejected"
    with pytest.raises(Conflict):
        call(points, "apply_migration", caller=ADMIN, import_id=own["import_id"])
    assert scalar("points", "SELECT balance FROM accounts WHERE member_id = :m", m=m2) == 0

    # the list pages newest first: this test's two imports are the newest two, one a page
    first = call(points, "migrations", caller=ADMIN, limit=1)
    assert [m["import_id"] for m in first] == [own["import_id"]]
    second = call(points, "migrations", caller=ADMIN, limit=1,
                  before=[first[0]["created_at"], first[0]["import_id"]])
    assert [m["import_id"] for m in second] == [import_id]
    with pytest.raises(InvalidInput):
        call(points, "migrations", caller=ADMIN, before=["not a time", "x"])
