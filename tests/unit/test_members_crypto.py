from __future__ import annotations

import base64
from datetime import date

import pytest

from contracts.errors import InvalidInput
from services.members import domain
from services.members.crypto import FieldCipher, KeyConfigError, new_key

KEYS = {"MEMBERS_ENCRYPTION_KEYS": f"a={new_key()},b={new_key()}", "MEMBERS_BLIND_INDEX_KEY": new_key()}


def test_round_trip_binds_value_to_member_and_field():
    cipher = FieldCipher.from_env(KEYS)
    stored = cipher.encrypt("+8613800000000", "m1", "phone")
    assert stored.startswith("b:") and "13800000000" not in stored
    assert cipher.decrypt(stored, "m1", "phone") == "+8613800000000"
    with pytest.raises(ValueError):
        cipher.decrypt(stored, "m2", "phone")  # copied to another member
    with pytest.raises(ValueError):
        cipher.decrypt(stored, "m1", "email")  # copied to another field
    assert cipher.encrypt("same", "m1", "phone") != cipher.encrypt("same", "m1", "phone")  # random nonces


def test_rotation_reads_old_keys_and_writes_the_active_one():
    old = FieldCipher.from_env({**KEYS, "MEMBERS_ACTIVE_KEY_ID": "a"})
    new = FieldCipher.from_env(KEYS)
    stored = old.encrypt("x@example.com", "m1", "email")
    assert new.decrypt(stored, "m1", "email") == "x@example.com"
    assert new.needs_rotation(stored) and not new.needs_rotation(new.encrypt("y", "m1", "email"))
    retired = FieldCipher.from_env({"MEMBERS_ENCRYPTION_KEYS": f"c={new_key()}",
                                    "MEMBERS_BLIND_INDEX_KEY": KEYS["MEMBERS_BLIND_INDEX_KEY"]})
    with pytest.raises(KeyConfigError):
        retired.decrypt(stored, "m1", "email")


def test_blind_index_is_keyed_and_separates_purposes():
    cipher = FieldCipher.from_env(KEYS)
    other = FieldCipher.from_env({**KEYS, "MEMBERS_BLIND_INDEX_KEY": new_key()})
    assert cipher.blind_index("+8613800000000", "phone") == cipher.blind_index("+8613800000000", "phone")
    assert cipher.blind_index("+8613800000000", "phone") != other.blind_index("+8613800000000", "phone")
    assert cipher.blind_index("v", "phone") != cipher.blind_index("v", "email")


@pytest.mark.parametrize("environ", [
    {},
    {"MEMBERS_ENCRYPTION_KEYS": "a=notbase64!", "MEMBERS_BLIND_INDEX_KEY": new_key()},
    {"MEMBERS_ENCRYPTION_KEYS": "a=" + base64.b64encode(b"short").decode(), "MEMBERS_BLIND_INDEX_KEY": new_key()},
    {"MEMBERS_ENCRYPTION_KEYS": "nokey", "MEMBERS_BLIND_INDEX_KEY": new_key()},
    {**KEYS, "MEMBERS_ACTIVE_KEY_ID": "zz"},
])
def test_bad_key_configuration_is_refused(environ):
    with pytest.raises(KeyConfigError):
        FieldCipher.from_env(environ)


def test_birthday_rules_and_29_february():
    today = date(2027, 2, 28)
    assert domain.birthday_today(date(2000, 2, 29), today)  # non-leap year: celebrated on 28 February
    assert not domain.birthday_today(date(2000, 2, 29), date(2028, 2, 28))
    assert domain.birthday_today(date(2000, 2, 29), date(2028, 2, 29))
    assert domain.check_birthday(date(1900, 1, 1), today) == date(1900, 1, 1)
    for bad in (date(1899, 12, 31), date(2027, 3, 1)):
        with pytest.raises(InvalidInput):
            domain.check_birthday(bad, today)


def test_emails_tags_and_preferences():
    assert domain.normalize_email(" Li@Example.COM ") == "Li@example.com"
    for bad in ("li", "li@", "@x.com", "a b@x.com", "li@x", "<li>@x.com"):
        with pytest.raises(InvalidInput):
            domain.normalize_email(bad)
    assert domain.clean_tags(["vip", " vip", "新客"]) == ["vip", "新客"]
    with pytest.raises(InvalidInput):
        domain.clean_tags([f"t{i}" for i in range(51)])
    with pytest.raises(InvalidInput):
        domain.check_preferences({"x": [1, 2]})  # type: ignore[dict-item]
