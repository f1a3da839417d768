"""The console's pure parts: who may do what (from the API's OpenAPI document), segment rules from the
form, the message catalog, charts and QR codes, sessions and CSRF tokens."""
from __future__ import annotations

import asyncio
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from services.console import access, i18n
from services.console.charts import bars, percent
from services.console.codes import qr_svg
from services.console.routes_campaigns import campaign_body
from services.console.segments_form import rows_of, rule_from
from services.console.sessions import Session, SessionStore

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "services" / "console"


@pytest.fixture(scope="module")
def permissions() -> access.Permissions:
    made = access.Permissions()
    made.load(json.loads((ROOT / "contracts" / "openapi.json").read_text()))
    return made


def staff(*roles: str) -> Session:
    return Session(sid="s", csrf="c", kind="staff", access_token="t", roles=frozenset(roles))


def test_what_a_role_may_do_is_what_the_apis_document_says(permissions: access.Permissions) -> None:
    rules = permissions.rules
    assert rules["adjust_points"] == access.Rule(frozenset({"admin", "manager"}), member=False)
    assert rules["list_audit"].roles == {"admin", "auditor"}
    assert rules["exchange"].member and "clerk" in rules["exchange"].roles
    assert permissions.can(staff("manager"), "adjust_points")
    assert not permissions.can(staff("clerk"), "adjust_points")
    assert not permissions.can(staff("clerk"), "list_audit")
    assert permissions.can(staff("clerk", "auditor"), "list_audit")
    member = Session(sid="m", csrf="c", kind="member", access_token="t")
    assert permissions.can(member, "record_activity") and not permissions.can(member, "search_members")
    assert not permissions.can(Session(sid="a", csrf="c"), "search_members")  # not logged in
    assert not permissions.can(staff("admin"), "no_such_operation")


def test_every_operation_the_console_asks_about_is_in_the_document(permissions: access.Permissions) -> None:
    asked = set()
    for path in [*CONSOLE.glob("*.py"), *(CONSOLE / "templates").glob("*.html")]:
        asked |= set(re.findall(r"can\((?:request, )?'?\"?([a-z_]+)['\"]", path.read_text()))
    asked.discard("op")
    assert asked and asked <= set(permissions.rules), asked - set(permissions.rules)


def test_a_segment_rule_from_the_form_is_typed_as_the_api_wants_it() -> None:
    one = rule_from({"cond-0-field": "store", "cond-0-op": "eq", "cond-0-value": " SH-001 "})
    assert one == {"field": "store", "op": "eq", "value": "SH-001"}
    rule = rule_from({"combine": "any", "cond-0-field": "spend", "cond-0-op": "gte", "cond-0-value": "88.00",
                      "cond-0-window": "30", "cond-1-field": "rfm_r", "cond-1-op": "in", "cond-1-value": "4, 5",
                      "cond-2-field": "age", "cond-2-op": "not_null", "cond-2-value": "ignored",
                      "cond-3-field": "", "cond-3-value": "left empty"})
    assert rule == {"any": [{"field": "spend", "op": "gte", "value": "88.00", "window_days": 30},
                            {"field": "rfm_r", "op": "in", "value": [4, 5]},
                            {"field": "age", "op": "not_null"}]}
    assert rule_from({"cond-0-field": "age", "cond-0-op": "gt", "cond-0-value": "old"})["value"] == "old"  # API: 422
    shown = rows_of(rule)
    assert len(shown) == 4 and shown[1]["value"] == "4, 5" and shown[3]["field"] == ""


def test_a_campaign_from_the_form_leaves_empty_fields_to_the_apis_defaults() -> None:
    body = campaign_body({"name": " Drop ", "type": "coupon_drop", "segment_id": "s", "starts_at": "2026-12-05T10:00",
                          "ends_at": "2026-12-31T10:00", "control_share": "0.5", "attribution_days": "14",
                          "points_per_sale": "", "budget_coupons": "100", "stores": "SH-001, BJ-001,",
                          "form_key": "k"})
    assert body == {"name": "Drop", "type": "coupon_drop", "segment_id": "s", "campaign_id": "k",
                    "starts_at": "2026-12-05T10:00:00Z", "ends_at": "2026-12-31T10:00:00Z", "control_share": "0.5",
                    "attribution_days": 14, "budget": {"coupons": 100}, "stores": ["SH-001", "BJ-001"]}


def test_every_message_key_used_exists_in_both_languages_with_the_same_placeholders() -> None:
    used = set()
    for path in [*CONSOLE.glob("*.py"), *(CONSOLE / "templates").glob("*.html")]:
        used |= set(re.findall(r"""\bt(?:ranslate)?\((?:[a-z_.]+, )?['"]([a-z_]+\.[a-z_.]+)['"]""", path.read_text()))
    assert len(used) > 50
    prefixes = {key for key in used if key.endswith(".")}  # 'desk.by.' ~ key: some keys under it
    assert all(any(known.startswith(prefix) for known in i18n.MESSAGES) for prefix in prefixes), prefixes
    missing = sorted(used - prefixes - set(i18n.MESSAGES))
    assert not missing, missing
    for key, (english, chinese) in i18n.MESSAGES.items():
        assert english and chinese, key
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", chinese)), key
    assert i18n.translate("zh", "me.checked_in", points=5) == "签到成功：+5 积分。"
    assert i18n.translate("en", "tier.diamond") == "diamond"  # a tier the API adds later still shows


def test_charts_and_qr_codes_escape_what_they_are_given() -> None:
    chart = str(bars([("<script>", Decimal("12.5")), ("control", 3)], 'a "title"', "%", ["", "control"]))
    assert "<script>" not in chart and "&lt;script&gt;" in chart and "12.5%" in chart
    assert 'class="bar control"' in chart and 'aria-label="a &#34;title&#34;"' in chart
    assert percent("0.125") == Decimal("12.5") and percent(None) == Decimal("0.0")
    code = str(qr_svg("3QW9EATSZVFANWF", "<b>"))
    assert code.startswith("<svg") and "<title>&lt;b&gt;</title>" in code


def test_sessions_rotate_at_login_expire_when_idle_and_check_csrf_tokens() -> None:
    async def scenario() -> None:
        store = SessionStore(idle_seconds=60)
        first = store.new("en")
        assert await store.get(first.sid) is None  # stored at the end of the request that made it
        await store.save(first)
        assert (await store.get(first.sid)) == first and first.csrf_ok(first.csrf)
        assert not first.csrf_ok("") and not first.csrf_ok(None) and not first.csrf_ok(first.csrf + "x")
        second = await store.rotate(first)
        await store.save(second)
        assert await store.get(first.sid) is None and second.sid != first.sid and second.csrf != first.csrf
        assert second.lang == "en"
        gone = SessionStore(idle_seconds=0, backend=store.backend)
        await gone.save(second)  # its idle time over
        assert await store.get(second.sid) is None

    asyncio.run(scenario())


def test_a_session_round_trips_and_a_request_writes_only_what_it_changed() -> None:
    async def scenario() -> None:
        store = SessionStore(idle_seconds=60)
        made = store.new()
        made.kind, made.roles, made.stores, made.name = "staff", frozenset({"clerk", "manager"}), ("SH-001",), "王"
        made.access_token, made.notices = "a1", ["saved"]
        await store.save(made)
        one, two = await store.get(made.sid), await store.get(made.sid)
        assert one == made and one is not made and one.roles == frozenset({"clerk", "manager"})
        assert one.stores == ("SH-001",)
        one.lang, two.access_token = "en", "a2"  # two requests at once: each keeps the other's change
        await store.save(one)
        await store.save(two)
        both = await store.get(made.sid)
        assert both is not None and (both.lang, both.access_token) == ("en", "a2")
        await store.drop(made)
        one.notices = ["late"]
        await store.save(one)  # a request still running when the session was dropped (logout elsewhere)
        assert await store.get(made.sid) is None

    asyncio.run(scenario())


def test_the_template_preview_asks_the_api_about_these_terms_and_this_basket() -> None:
    from services.console.routes_templates import preview_body, template_body

    nine = {"kind": "percent", "price_percent": "90", "max_discount": "15.00", "basket": "500"}
    assert preview_body(nine, "SH-001") == {
        "template": {"name": "preview", "kind": "percent", "price_percent": "90", "max_discount": "15.00",
                     "stackable": False},
        "basket": {"store": "SH-001", "amount": "500"}}
    assert preview_body({**nine, "basket_store": "BJ-001", "basket": ""}, "SH-001")["basket"] == {
        "store": "BJ-001", "amount": "0"}
    body = template_body({"name": "满100减20", "kind": "threshold", "amount": "20.00", "min_spend": "100.00",
                          "valid_days": "30", "budget_count": "ten", "stores": "SH-001", "stackable": "on"})
    assert body == {"name": "满100减20", "kind": "threshold", "amount": "20.00", "min_spend": "100.00",
                    "valid_days": 30, "budget_count": "ten", "stores": ["SH-001"], "stackable": True}


def test_a_session_nobody_logged_in_with_ends_sooner() -> None:
    store = SessionStore(idle_seconds=8 * 3600)
    anonymous, staffed = store.new(), store.new()
    staffed.kind = "staff"
    assert store.ttl(anonymous) == 1800 and store.ttl(staffed) == 8 * 3600


def test_requests_are_counted_by_route_template_not_by_path() -> None:
    from fastapi.testclient import TestClient
    from prometheus_client import REGISTRY

    from services.console.app import create_app
    from services.console.settings import ConsoleSettings

    def count(route: str, status: str) -> float:
        labels = {"method": "GET", "route": route, "status": status}
        return REGISTRY.get_sample_value("loyalty_console_requests_total", labels) or 0.0

    settings = ConsoleSettings(host="127.0.0.1", port=0, gateway_url="http://127.0.0.1:9", public_url="http://x",
                               secure_cookies=False, session_idle_seconds=60, api_timeout_seconds=1)
    before = count("/healthz", "200"), count("/static", "200")
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/static/htmx.min.js").status_code == 200
    assert (count("/healthz", "200"), count("/static", "200")) == (before[0] + 1, before[1] + 1)
