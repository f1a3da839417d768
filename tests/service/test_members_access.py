"""Who may call the members service: sensitive entrypoints check the caller's role through the
access kernel, and an RPC without a caller signed by an accepted key is refused before its method
runs (real broker and database; docs/decisions/0017-access-kernel.md)."""
from __future__ import annotations

import time
import uuid

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcClient as UnsignedClient
from nameko.testing.services import entrypoint_hook as unsigned_hook

from contracts.access import Caller
from contracts.caller_seal import CallerSeal
from contracts.errors import Forbidden, UntrustedCaller
from tests.callers import ClusterRpcClient, entrypoint_hook, key, member, staff

CLERK = staff("clerk", stores=["SH-001"])
MANAGER = staff("manager", stores=["SH-001"])
ADMIN = staff("admin")
MARKETER = staff("marketer")


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)


def _call(container, method, caller=None, **kwargs):
    with entrypoint_hook(container, method, context_data={"caller": caller} if caller else None) as call:
        return call(**kwargs)


def _register(container) -> str:
    body = {"name": "Access Holder", "phone": "137" + str(uuid.uuid4().int)[:8], "registration_store": "SH-001"}
    return str(_call(container, "register", caller=CLERK, **body)["member"]["member_id"])


def test_a_clerk_may_not_erase_and_an_admin_may(members):
    member_id = _register(members)
    with pytest.raises(Forbidden):
        _call(members, "erase", caller=CLERK, member_id=member_id)
    assert _call(members, "get", caller=CLERK, member_id=member_id)["status"] == "active"  # nothing changed
    assert _call(members, "erase", caller=ADMIN, member_id=member_id)["status"] == "erased"


def test_merge_bulk_tags_and_imports_check_the_role(members):
    survivor, merged = _register(members), _register(members)
    with pytest.raises(Forbidden):
        _call(members, "merge", caller=CLERK, survivor_id=survivor, merged_id=merged)
    with pytest.raises(Forbidden):
        _call(members, "bulk_tags", caller=CLERK, filter={"store": "SH-001"}, add=["x"])
    for caller in (CLERK, MANAGER, key("pos", "SH-001")):
        with pytest.raises(Forbidden):
            _call(members, "start_import", caller=caller, source="file", format="csv", encoding="utf-8")
    job = _call(members, "start_import", caller=key("erp"), source="file", format="csv", encoding="utf-8")
    assert job["status"] == "running"
    with pytest.raises(Forbidden):
        _call(members, "run_birthdays", caller=MARKETER)
    with pytest.raises(Forbidden):
        _call(members, "contact", caller=ADMIN, member_id=survivor)  # decrypted contacts: services only


def test_a_member_changes_only_their_own_record(members):
    mine, other = _register(members), _register(members)
    with pytest.raises(Forbidden):
        _call(members, "update", caller=member(mine), member_id=other, expected_version=1, name="Not Me")
    assert _call(members, "update", caller=member(mine), member_id=mine, expected_version=1,
                 name="Me Again")["name"] == "Me Again"
    with pytest.raises(Forbidden):
        _call(members, "erase", caller=member(mine), member_id=mine)


def test_a_store_managers_bulk_tags_stay_in_their_stores(members):
    home = _register(members)
    elsewhere = _call(members, "register", caller=staff("clerk", stores=["BJ-001"]), name="Far Away",
                      phone="137" + str(uuid.uuid4().int)[:8], registration_store="BJ-001")["member"]["member_id"]
    tag = "t" + uuid.uuid4().hex[:8]
    changed = _call(members, "bulk_tags", caller=MANAGER, filter={"status": "active"}, add=[tag])
    assert changed["members_changed"] >= 1
    assert tag in _call(members, "get", member_id=home)["tags"]
    assert tag not in _call(members, "get", member_id=elsewhere)["tags"]


def test_an_unsigned_caller_is_refused_before_the_method_runs(members):
    member_id = _register(members)
    with unsigned_hook(members, "erase", context_data={"caller": ADMIN}) as erase, pytest.raises(UntrustedCaller):
        erase(member_id=member_id)
    with unsigned_hook(members, "get") as get, pytest.raises(UntrustedCaller):
        get(member_id=member_id)  # no caller at all grants nothing either
    assert _call(members, "get", member_id=member_id)["status"] == "active"


def test_over_the_broker_only_a_caller_signed_with_the_platform_key_is_served(members):
    member_id = _register(members)
    forged = CallerSeal("forged-" + "f" * 40).sign(Caller.from_json(ADMIN), time.time())
    stale = CallerSeal(_platform_key()).sign(Caller.from_json(ADMIN), time.time() - 3600)
    for context in ({}, {"caller": ADMIN}, forged, stale):
        with UnsignedClient(context_data=dict(context), timeout=10) as client, \
                pytest.raises(RemoteError) as refused:
            client.members.erase(member_id=member_id)
        assert refused.value.exc_type == "UntrustedCaller"
    with ClusterRpcClient(context_data={"caller": ADMIN}, timeout=10) as client:
        assert client.members.erase(member_id=member_id)["status"] == "erased"


def _platform_key() -> str:
    import os

    return os.environ["CALLER_SIGNING_KEY"]
