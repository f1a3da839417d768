"""The member's dynamic QR code (pure: no I/O, no clock; docs/lifecycle.md).

A code is ``MQ1`` + base32 (RFC 4648, no padding: QR alphanumeric mode, so a small symbol) of

    member id (16 bytes) | expiry, Unix seconds (4) | nonce (8) | HMAC-SHA256 of those, first 16 bytes

signed with the members service's QR key. Anyone holding the key can mint codes, so only members
holds it; a till learns who the member is only by asking members to read the code.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass

from contracts.errors import InvalidInput

PREFIX = "MQ1"
TTL_SECONDS = 60
SKEW_SECONDS = 30  # a till's clock may be this far behind ours and still accept a fresh code
NONCE_BYTES = 8
MAC_BYTES = 16
_BODY = 16 + 4 + NONCE_BYTES
FIELD = "code"


@dataclass(frozen=True)
class MemberCode:
    member_id: str
    expires_at: int  # Unix seconds
    nonce: bytes


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, PREFIX.encode() + body, hashlib.sha256).digest()[:MAC_BYTES]


def sign(key: bytes, member_id: str, now: int, nonce: bytes, ttl: int = TTL_SECONDS) -> tuple[str, int]:
    """(code, expiry in Unix seconds) for a member, valid ``ttl`` seconds from ``now``."""
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"the nonce is {NONCE_BYTES} bytes")
    expires_at = now + ttl
    body = uuid.UUID(member_id).bytes + expires_at.to_bytes(4, "big") + nonce
    return PREFIX + base64.b32encode(body + _mac(key, body)).decode().rstrip("="), expires_at


def read(key: bytes, code: str, now: int) -> MemberCode:
    """The member a code names; InvalidInput naming ``code`` when it is malformed, forged (its
    signature does not match), expired, or claims a life longer than we ever give."""
    text = code.strip().upper()
    if not text.startswith(PREFIX):
        raise InvalidInput(f"not a member code (they start with {PREFIX})", FIELD)
    encoded = text[len(PREFIX):]
    try:
        raw = base64.b32decode(encoded + "=" * (-len(encoded) % 8))
    except (binascii.Error, ValueError):
        raise InvalidInput("not a member code (not base32)", FIELD) from None
    if len(raw) != _BODY + MAC_BYTES:
        raise InvalidInput("not a member code (wrong length)", FIELD)
    body, mac = raw[:_BODY], raw[_BODY:]
    if not hmac.compare_digest(mac, _mac(key, body)):
        raise InvalidInput("forged or damaged: the signature does not match", FIELD)
    expires_at = int.from_bytes(body[16:20], "big")
    if expires_at <= now:
        raise InvalidInput(f"expired {now - expires_at} s ago: ask the member to show a fresh code", FIELD)
    if expires_at > now + TTL_SECONDS + SKEW_SECONDS:
        raise InvalidInput("expires later than any code we issue: check the till's clock", FIELD)
    return MemberCode(str(uuid.UUID(bytes=body[:16])), expires_at, body[20:])
