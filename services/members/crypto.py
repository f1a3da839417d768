"""Field encryption at rest (AES-256-GCM) with key ids, and keyed blind indexes (HMAC-SHA256).

Configuration (generated into var/secrets by `make run`; set explicitly anywhere else):
  MEMBERS_ENCRYPTION_KEYS   comma-separated ``<key id>=<base64 of 32 bytes>``; old keys stay
                            listed so values written under them can still be read
  MEMBERS_ACTIVE_KEY_ID     the key id new values are written with (default: the last listed)
  MEMBERS_BLIND_INDEX_KEY   base64 of 32 bytes, for lookups by phone and email

A stored value is ``<key id>:<base64(nonce || ciphertext+tag)>``; the member id and the field
name are the associated data, so a value copied into another row or field does not decrypt.
Rotating keys: add a new key and make it active; new and changed values use it, old ones keep
reading under their own key; ``python -m services.members.reencrypt`` rewrites old values
under the active key so an old key can be retired. The blind-index key cannot rotate without
recomputing every index.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyConfigError(ValueError):
    """The encryption configuration is missing or malformed."""


def _key(raw: str, what: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{what} is not base64") from None
    if len(key) != 32:
        raise KeyConfigError(f"{what} must be 32 bytes (base64 of 32 random bytes)")
    return key


@dataclass(frozen=True)
class FieldCipher:
    keys: dict[str, bytes]
    active: str
    index_key: bytes

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "FieldCipher":
        env = os.environ if environ is None else environ
        spec = env.get("MEMBERS_ENCRYPTION_KEYS", "")
        index = env.get("MEMBERS_BLIND_INDEX_KEY", "")
        if not spec or not index:
            raise KeyConfigError("set MEMBERS_ENCRYPTION_KEYS and MEMBERS_BLIND_INDEX_KEY "
                                 "(see services/members/crypto.py)")
        keys: dict[str, bytes] = {}
        for item in spec.split(","):
            key_id, sep, raw = item.strip().partition("=")
            if not sep or not key_id or ":" in key_id:
                raise KeyConfigError("MEMBERS_ENCRYPTION_KEYS must look like k1=<base64>,k2=<base64>")
            keys[key_id] = _key(raw, f"encryption key {key_id}")
        active = env.get("MEMBERS_ACTIVE_KEY_ID") or list(keys)[-1]
        if active not in keys:
            raise KeyConfigError(f"MEMBERS_ACTIVE_KEY_ID {active!r} is not among MEMBERS_ENCRYPTION_KEYS")
        return cls(keys, active, _key(index, "MEMBERS_BLIND_INDEX_KEY"))

    def encrypt(self, plaintext: str, member_id: str, field: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, plaintext.encode(), f"{member_id}/{field}".encode())
        return f"{self.active}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, stored: str, member_id: str, field: str) -> str:
        key_id, _, payload = stored.partition(":")
        if key_id not in self.keys:
            raise KeyConfigError(f"value encrypted with unknown key {key_id!r}")
        raw = base64.b64decode(payload)
        try:
            return AESGCM(self.keys[key_id]).decrypt(raw[:12], raw[12:], f"{member_id}/{field}".encode()).decode()
        except InvalidTag:
            raise ValueError(f"{field} of member {member_id} does not decrypt (tampered, or moved between rows)") \
                from None

    def needs_rotation(self, stored: str) -> bool:
        return stored.partition(":")[0] != self.active

    def blind_index(self, value: str, purpose: str) -> str:
        """A keyed hash for exact lookups; ``purpose`` keeps phone and email indexes apart."""
        return hmac.new(self.index_key, f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()
