"""Erase, merge, bulk tag edits, birthdays, export."""
from __future__ import annotations

import json
import uuid

import pytest

from contracts.envelope import Envelope
from contracts.errors import Conflict, InvalidInput
from contracts.events import MemberBirthday, MemberErased, MemberMerged, parse_payload
from tests.callers import entrypoint_hook
from tests.helpers import query


def _phone() -> str:
    return "134" + str(uuid.uuid4().int)[:8]


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)


def _call(container, method, **kwargs):
    with entrypoint_hook(container, method) as call:
        return call(**kwargs)


def _register(container, **extra):
    return _call(container, "register", **{"name": "Life Cycle", "phone": _phone(), **extra})["member"]


def _events(event_type: str, member_id: str) -> list:
    rows = query("members", "SELECT body FROM outbox WHERE event_type = :t AND body::text LIKE :id ORDER BY id",
                 t=event_type, id=f"%{member_id}%")
    return [parse_payload(Envelope.model_validate(r.body)) for r in rows]


def test_erasing_a_survivor_erases_the_records_merged_into_it(members):
    survivor, merged = _register(members, name="Same Person"), _register(members, name="Same Person Old")
    _call(members, "merge", survivor_id=survivor["member_id"], merged_id=merged["member_id"])
    _call(members, "erase", member_id=survivor["member_id"])
    old = query("members", "SELECT name, phone_enc, status FROM members WHERE id = :id", id=merged["member_id"])[0]
    assert (old.name, old.phone_enc, old.status) == ("(erased)", None, "erased")
    assert len(_events("member.erased", merged["member_id"])) == 1


def test_erase_anonymises_irreversibly_scrubs_history_and_frees_the_phone(members):
    member = _register(members, email="gone@example.com", birthday="1980-01-01", tags=["vip"])
    _call(members, "update", member_id=member["member_id"], expected_version=1, name="Old Name Changed")
    erased = _call(members, "erase", member_id=member["member_id"])
    assert erased["status"] == "erased" and erased["name"] == "(erased)"
    assert erased["phone"] == "" and erased["email"] is None and erased["birthday"] is None and erased["tags"] == []
    assert erased["member_number"] == member["member_number"]  # accounting keeps the number
    stored = query("members", "SELECT * FROM members WHERE id = :id", id=member["member_id"])[0]._mapping
    assert stored["phone_enc"] is None and stored["email_enc"] is None
    history = json.dumps([dict(r._mapping) for r in query(
        "members", "SELECT fields FROM member_changes WHERE member_id = :id", id=member["member_id"])])
    assert "Life Cycle" not in history and "Old Name Changed" not in history
    assert [type(e) for e in _events("member.erased", member["member_id"])] == [MemberErased]
    assert _call(members, "erase", member_id=member["member_id"])["status"] == "erased"  # twice: no change
    assert len(_events("member.erased", member["member_id"])) == 1
    again = _call(members, "register", name="New Person", phone=member["phone"])  # the phone is free again
    assert again["created"] is True
    with pytest.raises(Conflict):
        _call(members, "update", member_id=member["member_id"], expected_version=erased["version"], name="X")


def test_merge_redirects_identifiers_and_announces_it(members):
    survivor, merged = _register(members, tags=["a"]), _register(members, tags=["b"])
    result = _call(members, "merge", survivor_id=survivor["member_id"], merged_id=merged["member_id"])
    assert result["member_id"] == survivor["member_id"] and result["tags"] == ["a", "b"]
    assert _call(members, "get", member_id=merged["member_id"])["member_id"] == survivor["member_id"]
    assert _call(members, "find_by_phone", phone=merged["phone"])["member_id"] == survivor["member_id"]
    by_number = _call(members, "search", member_number=merged["member_number"])["items"]
    assert by_number[0]["member_id"] == survivor["member_id"]
    events = _events("member.merged", merged["member_id"])
    assert len(events) == 1 and isinstance(events[0], MemberMerged)
    assert (events[0].survivor_id, events[0].merged_member_number) == (survivor["member_id"],
                                                                       merged["member_number"])
    again = _call(members, "merge", survivor_id=survivor["member_id"], merged_id=merged["member_id"])
    assert again["member_id"] == survivor["member_id"]  # a redelivered merge answers the same
    assert len(_events("member.merged", merged["member_id"])) == 1
    with pytest.raises(Conflict):
        _call(members, "merge", survivor_id=merged["member_id"], merged_id=survivor["member_id"])
    with pytest.raises(Conflict):  # a merged record is no longer writable
        _call(members, "update", member_id=merged["member_id"], expected_version=2, name="Ghost")
    with pytest.raises(InvalidInput):
        _call(members, "merge", survivor_id=survivor["member_id"], merged_id=survivor["member_id"])


def test_bulk_tags_change_the_filtered_set_with_history(members):
    store = "BT-" + uuid.uuid4().hex[:6]
    made = [_register(members, registration_store=store, tags=["old"]) for _ in range(3)]
    other = _register(members, tags=["old"])
    result = _call(members, "bulk_tags", filter={"store": store}, add=["spring-sale"], remove=["old"])
    assert result == {"members_changed": 3}
    for member in made:
        now = _call(members, "get", member_id=member["member_id"])
        assert now["tags"] == ["spring-sale"] and now["version"] == 2
    assert _call(members, "get", member_id=other["member_id"])["tags"] == ["old"]
    with pytest.raises(InvalidInput):
        _call(members, "bulk_tags", filter={"store": store}, add=["bad tag"])


def test_birthdays_once_per_year_in_the_store_time_zone_with_29_february(members, monkeypatch):
    monkeypatch.setenv("STORE_TIMEZONES", "NY-1=America/New_York")
    shanghai = _register(members, birthday="1990-03-15", registration_store="SH-1")
    new_york = _register(members, birthday="1990-03-15", registration_store="NY-1")
    leapling = _register(members, birthday="2000-02-29", registration_store="SH-1")
    # 2027-03-15 01:00 in Shanghai is still 14 March in New York
    assert _call(members, "run_birthdays", at="2027-03-14T17:00:00+00:00")["emitted"] >= 1
    assert len(_events("member.birthday", shanghai["member_id"])) == 1
    assert _events("member.birthday", new_york["member_id"]) == []
    _call(members, "run_birthdays", at="2027-03-15T17:00:00+00:00")  # now it is the 15th in New York too
    _call(members, "run_birthdays", at="2027-03-15T18:00:00+00:00")  # the job runs again: nothing twice
    assert len(_events("member.birthday", shanghai["member_id"])) == 1
    assert len(_events("member.birthday", new_york["member_id"])) == 1
    _call(members, "run_birthdays", at="2027-02-28T04:00:00+00:00")  # 2027 has no 29 February
    greeting = _events("member.birthday", leapling["member_id"])
    assert len(greeting) == 1 and isinstance(greeting[0], MemberBirthday)
    assert greeting[0].local_date.isoformat() == "2027-02-28" and greeting[0].year == 2027


def test_export_holds_profile_consents_and_history(members):
    member = _register(members, email="mine@example.com")
    _call(members, "set_consent", member_id=member["member_id"], channel="email", granted=True, source="web",
          text_version="v1")
    _call(members, "update", member_id=member["member_id"], expected_version=1, gender="other")
    exported = _call(members, "export_member", member_id=member["member_id"])
    assert exported["profile"]["email"] == "mine@example.com"
    assert exported["consents"][0]["channel"] == "email" and len(exported["consent_history"]) == 1
    assert exported["change_history"][0]["fields"]["gender"]["to"] == "other"
