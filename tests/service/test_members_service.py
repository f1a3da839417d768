"""The members service against its real PostgreSQL database (relay off: nothing leaves)."""
from __future__ import annotations

import uuid

import pytest

from contracts.envelope import Envelope
from contracts.errors import InvalidInput, NotFound
from contracts.events import MemberRegistered, parse_payload
from contracts.rpc import RegisterMemberResult
from tests.callers import entrypoint_hook
from tests.helpers import query, scalar


def _phone() -> str:
    return "139" + str(uuid.uuid4().int)[:8]


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)


def test_register_stores_member_and_records_event_in_same_transaction(members):
    phone = _phone()
    with entrypoint_hook(members, "register") as register:
        result = RegisterMemberResult.model_validate(register(name="  Wang   Wu ", phone=phone, channel="pos"))

    assert result.created is True
    assert result.member.name == "Wang Wu"
    assert result.member.phone == "+86" + phone
    rows = query("members", "SELECT body, published_at FROM outbox WHERE body->'payload'->>'member_id' = :id",
                 id=result.member.member_id)
    assert len(rows) == 1
    body, published_at = rows[0]
    assert published_at is None  # the relay is off: committed, not yet published
    envelope = Envelope.model_validate(body)  # what the service emits validates against the contract
    payload = parse_payload(envelope)
    assert isinstance(payload, MemberRegistered)
    assert payload.member_number == result.member.member_number
    assert envelope.producer == "members" and envelope.type == "member.registered"


def test_registering_a_known_phone_returns_the_existing_member_and_emits_nothing(members):
    phone = _phone()
    with entrypoint_hook(members, "register") as register:
        first = register(name="A", phone=phone)
        second = register(name="B", phone="+86 " + phone)
    assert second["created"] is False
    assert second["member"]["member_id"] == first["member"]["member_id"]
    assert second["member"]["name"] == "A"
    assert second["member"]["phone"] == "+86" + phone
    assert scalar("members", "SELECT count(*) FROM outbox WHERE body->'payload'->>'member_id' = :id",
                  id=first["member"]["member_id"]) == 1


@pytest.mark.parametrize("kwargs, field", [
    ({"phone": "13900000000"}, "name"),
    ({"name": "", "phone": "13900000000"}, "name"),
    ({"name": "X", "phone": "12345"}, "phone"),
    ({"name": "X", "phone": "+86 12345678901"}, "phone"),
    ({"name": "X", "phone": "13900000000", "channel": "fax"}, "channel"),
    ({"name": "X", "phone": "13900000000", "nickname": "x"}, "nickname"),
])
def test_bad_input_names_the_field_and_writes_nothing(members, kwargs, field):
    before = (scalar("members", "SELECT count(*) FROM members"), scalar("members", "SELECT count(*) FROM outbox"))
    with entrypoint_hook(members, "register") as register, pytest.raises(InvalidInput) as raised:
        register(**kwargs)
    assert raised.value.field == field
    after = (scalar("members", "SELECT count(*) FROM members"), scalar("members", "SELECT count(*) FROM outbox"))
    assert after == before


def test_get_unknown_member_is_not_found(members):
    with entrypoint_hook(members, "get") as get, pytest.raises(NotFound):
        get(member_id=str(uuid.uuid4()))


def test_get_malformed_id_is_invalid_input(members):
    with entrypoint_hook(members, "get") as get, pytest.raises(InvalidInput) as raised:
        get(member_id="42; DROP TABLE members")
    assert raised.value.field == "member_id"


def test_ping_checks_the_database(members):
    with entrypoint_hook(members, "ping") as ping:
        assert ping() == {"service": "members", "ok": True}
