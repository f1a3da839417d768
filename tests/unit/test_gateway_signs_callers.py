"""The gateway's RPC client signs the caller of every call as it sends it."""
from __future__ import annotations

import time

from contracts.access import Caller, service
from contracts.caller_seal import CallerSeal
from services.gateway.rpc import RpcClient
from services.gateway.security.principal import Principal

SEAL = CallerSeal("g" * 40)


def _client() -> RpcClient:
    return RpcClient("amqp://guest:guest@127.0.0.1:1/", seal=SEAL)


def test_the_authenticated_caller_is_signed_with_the_rest_of_the_context() -> None:
    clerk = Principal("staff", "u1", "clerk one", roles=frozenset({"clerk"}), stores=frozenset({"S1"}))
    context = _client()._signed({"request_id": "r1", "caller": clerk.rpc_context()})
    assert context["request_id"] == "r1"
    assert SEAL.verify(context, time.time()) == Caller("staff", "u1", ("clerk",), ("S1",))


def test_anonymous_routes_call_as_the_gateway() -> None:
    assert SEAL.verify(_client()._signed({"request_id": "r2"}), time.time()) == service("gateway")
    assert SEAL.verify(_client()._signed(None), time.time()) == service("gateway")


def test_a_key_is_seen_by_services_with_its_kind_as_role() -> None:
    pos = Principal("key", "k1", "till", roles=frozenset({"pos"}), stores=frozenset({"S1"}),
                    scopes=frozenset({"points:write"}))
    assert SEAL.verify(_client()._signed({"caller": pos.rpc_context()}), time.time()).roles == ("pos",)
