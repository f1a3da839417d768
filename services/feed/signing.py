"""Webhook signatures, both sides: what the feed sends and the reference check a receiver runs.

Each delivery carries ``X-Loyalty-Timestamp`` (Unix seconds) and ``X-Loyalty-Signature: v1=<hex>``,
the HMAC-SHA256, keyed with the subscription's secret, of ``<timestamp>.<raw body>``. A receiver
recomputes it over the bytes it received and refuses a timestamp more than ``tolerance`` seconds
from its clock, so a captured delivery cannot be played again later. Standard library only, so an
integrator can copy ``verify`` as it is (docs/feed.md shows it running).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Loyalty-Timestamp"
SIGNATURE_HEADER = "X-Loyalty-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The delivery is not one the feed signed just now: refuse it (answer 401/400)."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: float,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> None:
    """Raise SignatureError unless ``body`` was signed with ``secret`` within ``tolerance`` seconds of
    ``now``. Several ``v1=`` values (comma separated) are accepted while a secret is being rotated."""
    folded = {k.lower(): v for k, v in headers.items()}
    raw_time, raw_sig = folded.get(TIMESTAMP_HEADER.lower()), folded.get(SIGNATURE_HEADER.lower())
    if not raw_time or not raw_sig:
        raise SignatureError("missing timestamp or signature header")
    try:
        timestamp = int(raw_time)
    except ValueError:
        raise SignatureError("the timestamp is not whole Unix seconds") from None
    if abs(now - timestamp) > tolerance:
        raise SignatureError("the timestamp is too far from now (a replayed or delayed delivery)")
    expected = signature(secret, timestamp, body)
    offered = [part.strip() for part in raw_sig.split(",")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
        raise SignatureError("the signature does not match the body")
