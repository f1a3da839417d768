"""The fraud service on the real broker and database, fed by the points service as a till feeds it:
a cashier's sales on members registered a moment before, a refund after a redemption and a
released hold reach fraud as points' events (who acted, at which terminal), raise alerts with the
events as evidence, and a manager of the store acknowledges them; a manager of another store sees
and touches none."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.errors import Conflict, Forbidden
from contracts.events import MemberRegistered
from service_runtime import bootstrap
from service_runtime.config import amqp_uri
from tests.helpers import query, wait_for
from tests.service.feed_support import publish
from tests.service.notify_support import call
from tests.service.points_support import open_account, sale

STORE = "SH-FR1"
ADMIN = json.dumps({"kind": "staff", "id": "admin-1", "roles": ["admin"]})
MANAGER = json.dumps({"kind": "staff", "id": "mgr-fr", "roles": ["manager"], "stores": [STORE]})
OTHER_MANAGER = json.dumps({"kind": "staff", "id": "mgr-bj", "roles": ["manager"], "stores": ["BJ-009"]})


@pytest.fixture
def services(start_service):
    bootstrap.purge_queues(amqp_uri(), "--fraud.")
    return start_service("points"), start_service("fraud")


def _registered(member_id: str, number: str) -> MemberRegistered:
    return MemberRegistered(member_id=member_id, member_number=number, registration_store=STORE,
                            channel="pos", registered_at=datetime.now(UTC), actor_kind="staff", actor_id="clerk",
                            device="app-install-1")


def test_a_cashier_s_pattern_raises_alerts_with_evidence_that_a_manager_acknowledges(services):
    points, fraud = services
    for rule, threshold in (("fresh_member_sales", 2), ("refund_after_redemption", 1)):
        call(fraud, "set_rule", caller=ADMIN, rule=rule, threshold=threshold)
    cashier = f"clerk-{uuid.uuid4().hex[:8]}"
    clerk = json.dumps({"kind": "staff", "id": cashier, "roles": ["clerk"], "stores": [STORE]})
    accounts = [open_account(STORE) for _ in range(2)]
    members = [member_id for member_id, _ in accounts]
    publish(*(_registered(*account) for account in accounts))  # as members' relay does, a moment before the sales
    wait_for(lambda: len(query("fraud", "SELECT 1 FROM registrations WHERE member_id = ANY(CAST(:m AS uuid[]))",
                               m=members)) == 2, message="the registrations reaching fraud")
    sales = [sale(m, "98.00", store=STORE, terminal="T-07") for m in members]
    for body in sales:
        call(points, "record_sale", caller=clerk, **body)
    hold = call(points, "hold", caller=clerk, member_id=members[0], store=STORE, transaction_id=uuid.uuid4().hex,
                points=50)
    call(points, "commit_hold", caller=clerk, hold_id=hold["hold_id"])
    released = call(points, "hold", caller=clerk, member_id=members[1], store=STORE, transaction_id=uuid.uuid4().hex,
                    points=20)
    call(points, "release_hold", caller=clerk, hold_id=released["hold_id"])
    wait_for(lambda: query("fraud", "SELECT 1 FROM facts WHERE kind = 'redemption' AND reference = :t",
                           t=hold["transaction_id"]), message="the redemption reaching fraud")
    call(points, "refund_sale", caller=clerk, store=STORE, refund_id=f"R-{cashier}", amount="98.00",
         transaction_id=sales[0]["transaction_id"], refunded_at=datetime.now(UTC).isoformat())

    def alerts(caller: str = MANAGER) -> list[dict]:
        return call(fraud, "alerts", caller=caller, subject_id=cashier)["items"]

    found = wait_for(lambda: {a["rule"]: a for a in alerts()} if len(alerts()) == 2 else None, timeout=20,
                     message="two alerts about the cashier")
    fresh, refund = found["fresh_member_sales"], found["refund_after_redemption"]
    assert (fresh["subject_kind"], fresh["subject_id"], fresh["stores"], fresh["status"]) == (
        "staff", cashier, [STORE], "open")
    assert sorted(e["reference"] for e in fresh["evidence"]) == sorted(s["transaction_id"] for s in sales)
    assert {Decimal(e["amount"]) for e in fresh["evidence"]} == {Decimal("98.00")}
    assert {e["terminal"] for e in fresh["evidence"]} == {"T-07"}
    # the evidence names the events points published: the ledger's own record of these sales
    emitted = {str(r.event_id) for r in query("points", "SELECT event_id FROM outbox WHERE event_type = "
                                                        "'points.accrued' AND body->'payload'->>'actor_id' = :c",
                                              c=cashier)}
    assert {e["event_id"] for e in fresh["evidence"]} == emitted
    assert [(e["kind"], e["reference"], e["flags"]) for e in refund["evidence"]] == [
        ("refund", f"R-{cashier}", ["after_redemption"])]

    hold_fact = wait_for(lambda: query("fraud", "SELECT subject, points FROM facts WHERE reference = :h",
                                       h=released["hold_id"]), message="points.hold_released reaching fraud")
    assert [tuple(r) for r in hold_fact] == [(f"staff:{cashier}", 20)]

    assert alerts(OTHER_MANAGER) == []
    with pytest.raises(Forbidden):
        call(fraud, "acknowledge", caller=OTHER_MANAGER, alert_id=fresh["alert_id"], note="not my store")
    done = call(fraud, "acknowledge", caller=MANAGER, alert_id=fresh["alert_id"], note="Spoke with the cashier")
    assert (done["status"], done["acknowledged_by"], done["note"]) == ("acknowledged", "mgr-fr",
                                                                        "Spoke with the cashier")
    with pytest.raises(Conflict):
        call(fraud, "acknowledge", caller=MANAGER, alert_id=fresh["alert_id"], note="twice")
    assert [a["rule"] for a in call(fraud, "alerts", caller=MANAGER, subject_id=cashier, status="open")["items"]] \
        == ["refund_after_redemption"]
