"""The signed caller context of every RPC (pure: keys and clock are given).

The caller travels as two context entries (Nameko headers ``nameko.caller`` and
``nameko.caller_sig``): the caller's JSON fields plus ``at`` (unix seconds when signed), and
HMAC-SHA256 of exactly those bytes under the platform's caller key. A service accepts a
caller only if the signature matches one of its accepted keys and ``at`` is recent, so
broker credentials alone grant nothing (docs/decisions/0017-access-kernel.md). Version 2
(``v``) may name whom a service acts for (``on_behalf_of``); version 1 (no ``v``) is still read
(docs/decisions/0029-shape-leftovers.md).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from contracts.access import Caller
from contracts.errors import UntrustedCaller

CALLER: Final = "caller"
SIGNATURE: Final = "caller_sig"
MIN_KEY_LENGTH: Final = 32
VERSION: Final = 2  # 2 added on_behalf_of; verifiers of 1 ignore both fields
READABLE: Final = frozenset({1, VERSION})


@dataclass(frozen=True)
class CallerSeal:
    """Signs with ``key``; accepts ``key`` and ``also_accepted`` (the keys being rotated in or out)."""

    key: str
    also_accepted: tuple[str, ...] = ()
    max_age_seconds: int = 300
    max_skew_seconds: int = 60  # clocks of the gateway's and the services' hosts disagree a little

    def __post_init__(self) -> None:
        for key in (self.key, *self.also_accepted):
            if len(key) < MIN_KEY_LENGTH:
                raise ValueError(f"a caller signing key needs at least {MIN_KEY_LENGTH} characters")

    def sign(self, caller: Caller | str, at: float) -> dict[str, str]:
        """The context entries for ``caller`` (a Caller, or its JSON as the gateway keeps it)."""
        fields = caller.fields() if isinstance(caller, Caller) else Caller.from_json(caller).fields()
        payload = json.dumps({**fields, "at": int(at), "v": VERSION}, separators=(",", ":"), sort_keys=True)
        return {CALLER: payload, SIGNATURE: _mac(self.key, payload)}

    def verify(self, context: Mapping[str, Any], now: float) -> Caller:
        """The caller of a request's context; UntrustedCaller when unsigned, badly signed or stale."""
        payload, signature = context.get(CALLER), context.get(SIGNATURE)
        if not isinstance(payload, str) or not isinstance(signature, str):
            raise UntrustedCaller("the call carries no signed caller")
        if not any(hmac.compare_digest(_mac(key, payload), signature) for key in (self.key, *self.also_accepted)):
            raise UntrustedCaller("the caller's signature does not match")
        try:
            data = json.loads(payload)
            at, version = data.pop("at"), data.pop("v", 1)
            if version not in READABLE or (version == 1 and "on_behalf_of" in data):
                raise UntrustedCaller(f"caller seal version {version!r} is not one this service reads")
            caller = Caller.from_fields(data)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise UntrustedCaller("unreadable caller") from None
        if not isinstance(at, int) or not -self.max_skew_seconds <= now - at <= self.max_age_seconds:
            raise UntrustedCaller("the caller was signed too long ago (or the clocks disagree)")
        return caller


def _mac(key: str, payload: str) -> str:
    return hmac.new(key.encode(), payload.encode(), hashlib.sha256).hexdigest()


def parse_keys(accepted: str) -> Sequence[str]:
    """CALLER_ACCEPTED_KEYS: comma-separated keys accepted besides the signing key."""
    return tuple(k.strip() for k in accepted.split(",") if k.strip())
