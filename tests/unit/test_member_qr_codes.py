"""The member's dynamic QR code: signed, short-lived, printable (pure rules)."""
from __future__ import annotations

import base64
import uuid

import pytest

from contracts.errors import InvalidInput
from services.members.qr_codes import PREFIX, TTL_SECONDS, read, sign

KEY, OTHER_KEY = b"k" * 32, b"o" * 32
NOW = 1_796_000_000
MEMBER = str(uuid.uuid4())


def _code(now: int = NOW, key: bytes = KEY) -> str:
    return sign(key, MEMBER, now, b"\x01" * 8)[0]


def test_a_fresh_code_names_its_member_until_it_expires():
    code, expires_at = sign(KEY, MEMBER, NOW, b"\x02" * 8)
    assert expires_at == NOW + TTL_SECONDS
    assert set(code) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") | set(PREFIX)  # QR alphanumeric mode
    found = read(KEY, code, NOW + TTL_SECONDS - 1)
    assert (found.member_id, found.expires_at, found.nonce) == (MEMBER, expires_at, b"\x02" * 8)
    assert read(KEY, code.lower(), NOW).member_id == MEMBER  # a scanner's case does not matter


def test_two_codes_for_one_member_differ_by_their_nonce():
    assert sign(KEY, MEMBER, NOW, b"\x01" * 8)[0] != sign(KEY, MEMBER, NOW, b"\x02" * 8)[0]


def test_a_replay_after_the_window_is_refused_naming_the_code():
    with pytest.raises(InvalidInput) as raised:
        read(KEY, _code(), NOW + TTL_SECONDS)
    assert raised.value.field == "code" and "expired" in str(raised.value)


def _flip_member(code: str) -> str:
    raw = bytearray(base64.b32decode(code[len(PREFIX):] + "=" * (-len(code[len(PREFIX):]) % 8)))
    raw[0] ^= 1  # another member id, the signature kept
    return PREFIX + base64.b32encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize(("code", "reason"), [
    (_code(key=OTHER_KEY), "signature"),
    (_flip_member(_code()), "signature"),
    ("MQ1" + "A" * 10, "length"),
    ("MQ1!!!!", "base32"),
    ("HELLO", "member code"),
    (_code(now=NOW + 3600), "later than any code"),
])
def test_forged_damaged_or_foreign_codes_are_refused_naming_the_code(code, reason):
    with pytest.raises(InvalidInput) as raised:
        read(KEY, code, NOW)
    assert raised.value.field == "code" and reason in str(raised.value)
