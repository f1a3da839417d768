"""The member's dynamic QR code: shown by the member's app, read at a till (rules: qr_codes.py).

The key is ``MEMBERS_QR_KEY`` (base64 of 32 bytes) when set; otherwise one derived from the blind
index key (HMAC with a label of its own), so a deployment works without a new secret and the two
uses never share a key.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from datetime import UTC, datetime
from typing import Any

from contracts.errors import Conflict, NotFound
from contracts.rpc import MemberQr
from service_runtime.db import WorkerDb
from services.members import qr_codes, repo
from services.members.crypto import KeyConfigError, _key

LIVE = ("active", "frozen")


def key_from_env(environ: dict[str, str] | None = None) -> bytes:
    env = os.environ if environ is None else environ
    if env.get("MEMBERS_QR_KEY"):
        return _key(env["MEMBERS_QR_KEY"], "MEMBERS_QR_KEY")
    if not env.get("MEMBERS_BLIND_INDEX_KEY"):
        raise KeyConfigError("set MEMBERS_QR_KEY or MEMBERS_BLIND_INDEX_KEY (see services/members/qr.py)")
    index = _key(env["MEMBERS_BLIND_INDEX_KEY"], "MEMBERS_BLIND_INDEX_KEY")
    return hmac.new(index, b"member-qr-code/v1", hashlib.sha256).digest()


def issue(db: WorkerDb, key: bytes, member_id: str, now: datetime) -> MemberQr:
    """A fresh code for a live member (a new nonce each time: two codes never look alike)."""
    with db.transaction() as tx:
        row = repo.require(tx, member_id)
    if row.status not in LIVE:
        raise Conflict(f"this member was {row.status}", "member_id")
    code, expires_at = qr_codes.sign(key, member_id, int(now.timestamp()), os.urandom(qr_codes.NONCE_BYTES))
    return MemberQr(code=code, expires_at=datetime.fromtimestamp(expires_at, UTC), ttl_seconds=qr_codes.TTL_SECONDS)


def identify(db: WorkerDb, key: bytes, code: str, now: datetime) -> Any:
    """The member row a valid code names (a merged member's leads to the survivor)."""
    found = qr_codes.read(key, code, int(now.timestamp()))
    with db.transaction() as tx:
        row = repo.follow(tx, repo.get(tx, found.member_id))
    if row is None:
        raise NotFound("the code names no member", qr_codes.FIELD)
    if row.status not in LIVE:
        raise Conflict(f"the code's member was {row.status}", qr_codes.FIELD)
    return row
