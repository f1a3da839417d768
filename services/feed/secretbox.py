"""Webhook secrets at rest: sealed with AES-256-GCM under a key id, so a copy of the feed's database
(a backup, a replica) signs nothing. The webhook's id is the associated data: a sealed secret moved
to another subscription does not open.

Configuration (generated into var/secrets by `make run`; set explicitly anywhere else):
  FEED_SECRET_KEYS      comma-separated ``<key id>=<base64 of 32 bytes>``; old keys stay listed
                        while secrets sealed under them remain
  FEED_ACTIVE_KEY_ID    the key new secrets are sealed with (default: the last listed)

A stored secret is ``<key id>:<base64(nonce || ciphertext+tag)>``; one written before sealing
(``whsec_...``) still opens as it is. Rotating: add a key, make it active, then
``python -m services.feed.reseal`` seals every secret under it (and the plain ones), after which the
old key can go."""
from __future__ import annotations

import base64
import binascii
import functools
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PLAIN_PREFIX = "whsec_"  # how a secret reads in the clear (and how rows written before sealing hold it)


class SecretKeyError(ValueError):
    """The keys are missing or malformed, or a stored secret does not open with them."""


@dataclass(frozen=True)
class SecretBox:
    keys: dict[str, bytes]
    active: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SecretBox:
        env = os.environ if environ is None else environ
        listed = [part.strip().partition("=") for part in env.get("FEED_SECRET_KEYS", "").split(",") if part.strip()]
        if not listed or any(not sep or not key_id or ":" in key_id for key_id, sep, _ in listed):
            raise SecretKeyError("set FEED_SECRET_KEYS as k1=<base64 of 32 bytes>[,k2=...] "
                                 "(see services/feed/secretbox.py)")
        keys = {key_id: _decode(raw, key_id) for key_id, _, raw in listed}
        active = env.get("FEED_ACTIVE_KEY_ID") or listed[-1][0]
        if active not in keys:
            raise SecretKeyError(f"FEED_ACTIVE_KEY_ID {active!r} is not among FEED_SECRET_KEYS")
        return cls(keys, active)

    def seal(self, secret: str, webhook_id: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.keys[self.active]).encrypt(nonce, secret.encode(), webhook_id.encode())
        return f"{self.active}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, stored: str, webhook_id: str) -> str:
        if stored.startswith(PLAIN_PREFIX):
            return stored
        key_id, _, payload = stored.partition(":")
        if key_id not in self.keys:
            raise SecretKeyError(f"webhook {webhook_id}'s secret is sealed with key {key_id!r}, not configured")
        raw = base64.b64decode(payload)
        try:
            return AESGCM(self.keys[key_id]).decrypt(raw[:12], raw[12:], webhook_id.encode()).decode()
        except InvalidTag:
            raise SecretKeyError(f"webhook {webhook_id}'s secret does not open (tampered, or moved)") from None

    def stale(self, stored: str) -> bool:
        """Plain, or sealed under a key that is no longer the active one."""
        return stored.startswith(PLAIN_PREFIX) or stored.partition(":")[0] != self.active


def _decode(raw: str, key_id: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"FEED_SECRET_KEYS: key {key_id} is not base64") from None
    if len(key) != 32:
        raise SecretKeyError(f"FEED_SECRET_KEYS: key {key_id} must be 32 bytes")
    return key


@functools.cache
def box() -> SecretBox:
    """The process's keys, read once (a new key takes a restart, as members' keys do)."""
    return SecretBox.from_env()
