"""/v1/analytics in front of the analytics service: managers, marketers and admins only; a store-bound
manager asks of their own store (no scope: theirs; another store: 403 naming it); bad input named;
JSON or CSV (?format=csv or Accept: text/csv). A stand-in answers for the service; the service itself
is tested in tests/service/test_analytics.py."""
from __future__ import annotations

import pytest

from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)

ROW = {"key": "2026-11-02", "member_sales": 1, "member_amount": "100.50", "average_basket": "100.50",
       "new_buyer_sales": 1, "returning_sales": 0, "registrations": 0, "all_sales": 2, "all_amount": "350.50",
       "member_share": "0.2867", "refunds": 0, "refund_amount": "0.00", "points_issued": 100, "points_redeemed": 0,
       "points_reversed": 0}
DAYS = "from=2026-11-01&to=2026-11-30"


def _report(kw: dict) -> dict:
    where = {k: kw[k] for k in ("scope", "store", "region", "from_day", "to_day", "days")}
    return {"where": where, "by": kw["by"], "rows": [ROW]}


@pytest.mark.parametrize("who,allowed", [("marketer", True), ("admin", True), ("manager", True),
                                         ("auditor", False), ("clerk", False), ("pos", False), ("erp", False),
                                         ("member", False), ("anonymous", False)])
def test_readers_ask_and_a_store_bound_manager_gets_their_store(client, callers, fake, who, allowed):  # noqa: F811
    services = fake({("analytics", "sales"): _report})
    response = client.get(f"/v1/analytics/sales?{DAYS}&by=day", headers=callers[who])
    assert response.status_code == (200 if allowed else 401 if who == "anonymous" else 403), response.text
    if not allowed:
        assert services.calls == []
        return
    assert response.json()["rows"] == [ROW]
    asked = services.calls[0][2]
    expected = ("store", "SH-001") if who == "manager" else ("chain", None)  # the fixture's manager is SH-001's
    assert (asked["scope"], asked["store"], asked["from_day"], asked["by"]) == (*expected, "2026-11-01", "day")


def test_another_store_is_refused_naming_the_store_and_bad_input_names_the_field(client, callers, fake):  # noqa: F811
    services = fake({("analytics", "sales"): _report})
    other = client.get(f"/v1/analytics/sales?{DAYS}&scope=store&store=BJ-009", headers=callers["manager"])
    assert other.status_code == 403 and other.json()["error"]["field"] == "store"
    for query, field in (("from=2026-11-01", "to"), (f"{DAYS}&by=minute", "by"), (f"{DAYS}&days=holiday", "days"),
                         ("from=2026-13-01&to=2026-11-30", "from")):
        refused = client.get(f"/v1/analytics/sales?{query}", headers=callers["marketer"])
        assert refused.status_code == 422 and refused.json()["error"]["field"].endswith(field), refused.text
    bad_month = client.get("/v1/analytics/cohorts?from=2026-1&to=2026-11", headers=callers["marketer"])
    assert bad_month.status_code == 422 and bad_month.json()["error"]["field"].endswith("from")
    assert services.calls == []


def test_csv_by_format_or_accept_header_with_the_same_rows(client, callers, fake):  # noqa: F811
    cohort = [{"cohort": "2026-10", "members": 4, "active": [2, 1], "retention": ["0.5000", "0.2500"]}]
    fake({("analytics", "sales"): _report, ("analytics", "cohorts"): {"rows": cohort}})
    by_format = client.get(f"/v1/analytics/sales?{DAYS}&format=csv", headers=callers["admin"])
    by_accept = client.get(f"/v1/analytics/sales?{DAYS}", headers={**callers["admin"], "Accept": "text/csv"})
    for response in (by_format, by_accept):
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        header, row = response.text.splitlines()
        assert header.split(",") == list(ROW) and row.split(",")[:3] == ["2026-11-02", "1", "100.50"]
        assert row.split(",")[8] == "350.50"  # all_amount, exact as the service answered
    cohorts = client.get("/v1/analytics/cohorts?from=2026-10&to=2026-11&format=csv", headers=callers["marketer"])
    assert cohorts.text.splitlines() == ["cohort,members,active_0,active_1,retention_0,retention_1",
                                         "2026-10,4,2,1,0.5000,0.2500"]
    assert client.get("/v1/analytics/cohorts?from=2026-10&to=2026-11", headers=callers["marketer"]).json() == {
        "rows": cohort}
