"""The member's dynamic QR code through the members service: the member mints it, a till reads it;
staff cannot mint, marketers cannot read, a forged code or an erased member's is refused naming it."""
from __future__ import annotations

import uuid

import pytest

from contracts.errors import Conflict, Forbidden, InvalidInput
from tests.callers import entrypoint_hook, key, member, staff


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)


def _call(container, method, caller=None, **kwargs):
    with entrypoint_hook(container, method, {"caller": caller} if caller else None) as call:
        return call(**kwargs)


def test_a_member_shows_a_fresh_code_and_a_till_identifies_them_with_it(members):
    registered = _call(members, "register", name="Scan Me", phone="139" + str(uuid.uuid4().int)[:8])
    member_id = registered["member"]["member_id"]
    first = _call(members, "member_qr", caller=member(member_id), member_id=member_id)
    second = _call(members, "member_qr", caller=member(member_id), member_id=member_id)
    assert first["code"].startswith("MQ1") and first["ttl_seconds"] == 60 and first["code"] != second["code"]
    for till in (staff("clerk", stores=["ELSEWHERE"]), key("pos", store="ELSEWHERE")):
        assert _call(members, "identify_code", caller=till, code=first["code"])["member_id"] == member_id
    with pytest.raises(Forbidden):
        _call(members, "member_qr", caller=staff("admin"), member_id=member_id)
    with pytest.raises(Forbidden):
        _call(members, "identify_code", caller=staff("marketer"), code=first["code"])
    code = first["code"]
    forged = code[:10] + ("B" if code[10] == "A" else "A") + code[11:]  # another member id, the signature kept
    with pytest.raises(InvalidInput) as raised:
        _call(members, "identify_code", caller=staff("clerk"), code=forged)
    assert raised.value.field == "code"
    _call(members, "erase", member_id=member_id)
    with pytest.raises(Conflict) as gone:
        _call(members, "identify_code", caller=staff("clerk"), code=second["code"])
    assert gone.value.field == "code"
