"""WeChat's message push for the mini-program (JSON, plain mode): the result of each subscribe message,
``subscribe_msg_sent_event``, marks it delivered (ErrorCode 0) or failed. WeChat signs a push with the
token configured in the mini-program's message push settings (NOTIFY_WECHAT_PUSH_TOKEN): ``signature``
is SHA-1 of the sorted token, timestamp and nonce; a push stamped over five minutes away is refused."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from contracts.errors import Forbidden, InvalidInput
from contracts.notify import Receipt
from service_runtime.config import env
from service_runtime.db import WorkerDb
from services.notify.vendor_receipts import record_known

TOKEN_VARIABLE = "NOTIFY_WECHAT_PUSH_TOKEN"
TOLERANCE_SECONDS = 300  # as our own signed receipts (channels.verify)


def signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()  # noqa: S324 (WeChat's)


def fresh(timestamp: str, now: float, tolerance: float = TOLERANCE_SECONDS) -> bool:
    """WeChat stamps each push (Unix seconds); one signed long ago is a capture replayed."""
    try:
        return abs(now - int(timestamp)) <= tolerance
    except ValueError:
        return False


def check(timestamp: str, nonce: str, given: str, variable: str = TOKEN_VARIABLE) -> None:
    """The push is WeChat's: signed with the token in ``variable`` (one per app's push settings), recently."""
    token = env(variable, "")
    # bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500)
    if not token or not hmac.compare_digest(signature(token, timestamp, nonce).encode(), given.lower().encode()):
        raise Forbidden("bad or missing WeChat push signature", "signature")
    if not fresh(timestamp, time.time()):
        raise Forbidden("a WeChat push signed more than 5 minutes from now (a replay?)", "timestamp")


def sent_events(data: Any) -> list[tuple[Receipt, str | None]]:
    """Receipts from a subscribe_msg_sent_event (its List is one item or several); other pushes: none."""
    if not isinstance(data, dict):
        raise ValueError("a WeChat push is a JSON object")
    if data.get("MsgType") != "event" or data.get("Event") != "subscribe_msg_sent_event":
        return []
    items = data.get("List")
    result: list[tuple[Receipt, str | None]] = []
    for item in items if isinstance(items, list) else [items]:
        if not isinstance(item, dict) or not item.get("MsgID"):
            raise ValueError("a subscribe_msg_sent_event item has a MsgID")
        ok = str(item.get("ErrorCode")) == "0"
        result.append((Receipt(provider_message_id=str(item["MsgID"]), status="delivered" if ok else "failed",
                               detail=None if ok else f"wechat {item.get('ErrorCode')}"[:500]), None))
    return result


def take(db: WorkerDb, timestamp: str, nonce: str, given: str, body: str) -> int:
    """How many messages the push reported on."""
    check(timestamp, nonce, given)
    try:
        items = sent_events(json.loads(body))
    except ValueError as exc:
        raise InvalidInput(f"not a WeChat push: {type(exc).__name__}", "body") from None
    return record_known(db, "wechat", items)
