"""The access kernel (contracts/access.py) and the signed caller (contracts/caller_seal.py)."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from contracts.access import (
    AT_THE_TILL,
    MARKETING,
    MASTER_DATA,
    MEMBER,
    STORE_MANAGEMENT,
    Caller,
    id_or_none,
    parse_id,
    require,
    require_backend,
    require_self,
    require_store,
    service,
)
from contracts.caller_seal import CALLER, SIGNATURE, VERSION, CallerSeal
from contracts.errors import Forbidden, InvalidInput, UntrustedCaller

KEY = "k" * 40
OTHER = "o" * 40
NOW = 1_800_000_000.0
CLERK_S1 = Caller("staff", "u1", ("clerk",), ("S1",))
ADMIN = Caller("staff", "u2", ("admin",))
POS_S1 = Caller("key", "k1", ("pos",), ("S1",))
ERP = Caller("key", "k2", ("erp",))
ALICE = Caller("member", "m1", member_id="m1")


def test_services_pass_every_role_check() -> None:
    require(service("points"), frozenset())
    require(service("points"), ["admin"], store="S9", member="m2")


def test_staff_and_keys_pass_by_role_or_kind() -> None:
    require(ADMIN, STORE_MANAGEMENT)
    require(ERP, MASTER_DATA)
    with pytest.raises(Forbidden):
        require(CLERK_S1, STORE_MANAGEMENT)
    with pytest.raises(Forbidden):
        require(POS_S1, MASTER_DATA)
    with pytest.raises(Forbidden) as refused:
        require(ADMIN, frozenset(), field="member_id")  # services only
    assert refused.value.field == "member_id"


def test_members_pass_only_where_named_and_only_for_themselves() -> None:
    require(ALICE, MARKETING | {MEMBER}, member="m1")
    with pytest.raises(Forbidden):
        require(ALICE, MARKETING)
    with pytest.raises(Forbidden) as refused:
        require(ALICE, {MEMBER}, member="m2")
    assert refused.value.field == "member_id"
    with pytest.raises(Forbidden):
        require(ALICE, {MEMBER})  # a member names their own id
    require_self(ADMIN, "m2")  # not a member: passes


def test_store_scope() -> None:
    require(CLERK_S1, AT_THE_TILL, store="S1")
    with pytest.raises(Forbidden) as refused:
        require(CLERK_S1, AT_THE_TILL, store="S2")
    assert refused.value.field == "store"
    with pytest.raises(Forbidden):
        require_store(POS_S1, None)  # a store-bound caller names its store
    require_store(ADMIN, None)


def test_backend_only_refuses_the_gateway_and_people() -> None:
    require_backend(service("notify"))
    for caller in (service("gateway"), ADMIN, ALICE):
        with pytest.raises(Forbidden):
            require_backend(caller)


def test_ids() -> None:
    assert parse_id("6F1D7C52-7F0E-4A8E-9A51-3C2F7F9B2D10", "x") == "6f1d7c52-7f0e-4a8e-9a51-3c2f7f9b2d10"
    with pytest.raises(InvalidInput) as bad:
        parse_id("nope", "hold_id", "a hold id")
    assert (bad.value.field, bad.value.message) == ("hold_id", "not a hold id")
    assert id_or_none("nope") is None and id_or_none(None) is None


def test_caller_json_round_trip_reads_the_gateways_older_form() -> None:
    assert Caller.from_json(CLERK_S1.to_json()) == CLERK_S1
    older = '{"kind":"key","id":"k1","roles":["pos"],"stores":["S1"],"member_id":null}'  # kept by import jobs
    assert Caller.from_json(older) == POS_S1
    with pytest.raises(ValueError):
        Caller.from_json('{"kind":"internal"}')


def test_a_signed_caller_is_accepted_with_its_fields() -> None:
    seal = CallerSeal(KEY)
    context = seal.sign(CLERK_S1, NOW)
    assert seal.verify({**context, "request_id": "r"}, NOW + 5) == CLERK_S1
    assert seal.verify(seal.sign(POS_S1.to_json(), NOW), NOW) == POS_S1  # the gateway signs the JSON it keeps


@pytest.mark.parametrize("context", [
    {},  # no caller at all: the old "internal" call
    {CALLER: ADMIN.to_json()},  # a caller without a signature
    {CALLER: ADMIN.to_json(), SIGNATURE: "0" * 64},
])
def test_unsigned_or_badly_signed_callers_are_refused(context: dict[str, str]) -> None:
    with pytest.raises(UntrustedCaller):
        CallerSeal(KEY).verify(context, NOW)


def test_a_changed_field_breaks_the_signature() -> None:
    context = CallerSeal(KEY).sign(CLERK_S1, NOW)
    raised = json.loads(context[CALLER])
    raised["roles"] = ["admin"]
    with pytest.raises(UntrustedCaller):
        CallerSeal(KEY).verify({**context, CALLER: json.dumps(raised)}, NOW)


def test_another_key_is_refused_unless_accepted_during_rotation() -> None:
    signed_by_other = CallerSeal(OTHER).sign(ADMIN, NOW)
    with pytest.raises(UntrustedCaller):
        CallerSeal(KEY).verify(signed_by_other, NOW)
    assert CallerSeal(KEY, also_accepted=(OTHER,)).verify(signed_by_other, NOW) == ADMIN


def test_stale_or_future_signatures_are_refused() -> None:
    seal = CallerSeal(KEY, max_age_seconds=300, max_skew_seconds=60)
    context = seal.sign(ADMIN, NOW)
    assert seal.verify(context, NOW + 300) == ADMIN
    with pytest.raises(UntrustedCaller):
        seal.verify(context, NOW + 301)
    with pytest.raises(UntrustedCaller):
        seal.verify(context, NOW - 61)


def _signed_by_hand(fields: dict[str, object], at: float) -> dict[str, str]:
    """A context as another version of the seal signs it (the same key, other fields)."""
    payload = json.dumps({**fields, "at": int(at)}, separators=(",", ":"), sort_keys=True)
    return {CALLER: payload, SIGNATURE: hmac.new(KEY.encode(), payload.encode(), hashlib.sha256).hexdigest()}


def test_a_service_acting_for_someone_carries_them_signed_and_records_them_as_actor() -> None:
    files = service("catalog", on_behalf_of="a-1")
    context = CallerSeal(KEY).sign(files, NOW)
    assert json.loads(context[CALLER])["v"] == VERSION
    verified = CallerSeal(KEY).verify(context, NOW)
    assert (verified, verified.actor) == (files, "a-1")
    assert service("catalog").actor == "catalog" and ADMIN.actor == "u2"


def test_seals_of_version_1_are_still_read_and_unknown_versions_refused() -> None:
    assert CallerSeal(KEY).verify(_signed_by_hand(ADMIN.fields(), NOW), NOW) == ADMIN  # no "v": version 1
    for fields in ({**ADMIN.fields(), "v": 3},
                   {**service("catalog").fields(), "on_behalf_of": "a-1"},  # version 1 had no such field
                   {**ADMIN.fields(), "on_behalf_of": "a-1", "v": VERSION}):  # only services act for others
        with pytest.raises(UntrustedCaller):
            CallerSeal(KEY).verify(_signed_by_hand(fields, NOW), NOW)


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        CallerSeal("short")
