"""Who a login code went to, without keeping who: a keyed hash of the phone (HMAC-SHA256 under
NOTIFY_PHONE_HASH_KEY, as members keys its blind index). A plain SHA-256 of an 11-digit mobile
number is reversed by trying them all; without the key it is not."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os

from service_runtime.config import env
from services.notify.channels import DEV_CONSOLE_FLAG, dev_console_enabled

log = logging.getLogger(__name__)
KEY_VARIABLE = "NOTIFY_PHONE_HASH_KEY"


class KeyConfigError(RuntimeError):
    """The phone hash key is missing or unusable: notify does not start."""


class PhoneHasher:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise KeyConfigError(f"{KEY_VARIABLE} must be base64 of at least 32 bytes")
        self._key = key

    @classmethod
    def from_env(cls) -> PhoneHasher:
        raw = env(KEY_VARIABLE, "")
        if raw:
            try:
                return cls(base64.b64decode(raw, validate=True))
            except (binascii.Error, ValueError):
                raise KeyConfigError(f"{KEY_VARIABLE} is not base64") from None
        if dev_console_enabled():
            # development only: a key for this process (a restart forgets the hourly code counts)
            log.warning("%s is not set; %s=1, so a key for this process only is used", KEY_VARIABLE, DEV_CONSOLE_FLAG)
            return cls(os.urandom(32))
        raise KeyConfigError(f"set {KEY_VARIABLE} (base64 of 32 random bytes, the same on every notify replica)")

    def hash(self, phone: str) -> str:
        return hmac.new(self._key, f"phone:{phone}".encode(), hashlib.sha256).hexdigest()
