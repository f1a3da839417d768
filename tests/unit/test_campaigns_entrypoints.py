"""The campaigns service is one Nameko service built from the entrypoint classes of its parts:
what its callers and the broker know of it (RPC names, event handlers, and so queue names) must
not move when a part is reorganised."""
from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from nameko.events import EventHandler
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc

from contracts.errors import InsufficientPoints, NotFound, ServiceUnavailable
from service_runtime.registry import load_service

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = {  # method -> (source service, event type); the queue is named from these and the service
    "on_birthday_for_campaigns": ("members", "member.birthday"),
    "on_category_changed": ("catalog", "category.changed"),
    "on_member_erased": ("members", "member.erased"),
    "on_member_erased_coupons": ("members", "member.erased"),
    "on_member_lifecycle_changed": ("members", "member.lifecycle_changed"),
    "on_member_merged": ("members", "member.merged"),
    "on_member_merged_coupons": ("members", "member.merged"),
    "on_member_registered": ("members", "member.registered"),
    "on_member_updated": ("members", "member.updated"),
    "on_members_imported": ("members", "members.imported"),
    "on_notification_outcome": ("notify", "notification.outcome"),
    "on_points_accrued": ("points", "points.accrued"),
    "on_points_adjusted": ("points", "points.adjusted"),
    "on_points_expired": ("points", "points.expired"),
    "on_points_redeemed": ("points", "points.redeemed"),
    "on_points_reversed": ("points", "points.reversed"),
    "on_store_changed": ("catalog", "store.changed"),
    "on_tier_changed": ("points", "tier.changed"),
}


def _entrypoints(kind: type) -> dict[str, Any]:
    service = load_service("campaigns")
    return {name: ep for name, method in inspect.getmembers(service)
            for ep in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()) if isinstance(ep, kind)}


def test_the_service_keeps_its_name() -> None:
    assert load_service("campaigns").name == "campaigns"


def test_every_method_the_gateway_calls_is_an_rpc_of_campaigns() -> None:
    called = set()
    for module in ("routes_campaigns.py", "routes_coupons.py"):
        called |= set(re.findall(r'_campaigns\(request, "(\w+)"', (ROOT / "services/gateway" / module).read_text()))
    assert len(called) > 20
    assert called <= set(_entrypoints(Rpc))


def test_event_handlers_keep_their_names_and_sources() -> None:
    found = {name: (ep.source_service, ep.event_type) for name, ep in _entrypoints(EventHandler).items()}
    assert found == HANDLERS


def test_the_read_model_answers_privacy_exports_and_coupons_relay_points_errors() -> None:
    rpcs = _entrypoints(Rpc)
    assert NotFound in rpcs["export_member"].expected_exceptions  # not the base class's empty default
    assert {InsufficientPoints, ServiceUnavailable} <= set(rpcs["exchange"].expected_exceptions)
    assert InsufficientPoints not in rpcs["create_segment"].expected_exceptions
