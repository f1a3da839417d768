"""Delivery reports the SMS vendors push to us (Alibaba's SmsReport, Tencent's status callback).
Neither vendor signs them: the callback URL configured in their console carries a secret token
(NOTIFY_SMS_RECEIPT_TOKEN), and a report counts only for a message we sent by SMS under that provider
id (and, for Alibaba, with our message id as its OutId). Reports of messages we do not know are
acknowledged and dropped, or the vendor would push them again and again."""
from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from contracts.errors import Forbidden, InvalidInput, NotFound
from contracts.notify import Receipt
from service_runtime.config import env
from service_runtime.db import WorkerDb
from services.notify import receipts, repo, sms_aliyun, sms_tencent

TOKEN_VARIABLE = "NOTIFY_SMS_RECEIPT_TOKEN"
PARSERS: dict[str, tuple[Callable[[Any], list[tuple[Receipt, str | None]]], dict[str, Any]]] = {
    "aliyun": (sms_aliyun.reports, sms_aliyun.ACK), "tencent": (sms_tencent.statuses, sms_tencent.ACK)}


def take(db: WorkerDb, vendor: str, token: str, body: str) -> dict[str, Any]:
    """{"ack": the answer the vendor expects, "recorded": n, "ignored": n}."""
    if vendor not in PARSERS:
        raise NotFound(f"no SMS vendor {vendor!r}", "vendor")
    expected = env(TOKEN_VARIABLE, "")
    if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
        raise Forbidden("bad or missing receipt token", "token")
    parse, ack = PARSERS[vendor]
    try:
        items = parse(json.loads(body))
    except ValueError as exc:  # pydantic's ValidationError is one too
        raise InvalidInput(f"not a {vendor} delivery report: {type(exc).__name__}", "body") from None
    recorded = record_known(db, "sms", items)
    return {"ack": ack, "recorded": recorded, "ignored": len(items) - recorded}


def record_known(db: WorkerDb, channel: str, items: list[tuple[Receipt, str | None]]) -> int:
    """Record the reports of messages we sent on this channel (and, with our id given, that id's);
    how many were."""
    recorded = 0
    for receipt, ours in items:
        with db.transaction() as tx:
            row = repo.by_provider_id(tx, receipt.provider_message_id)
        if row is None or row.channel != channel or (ours is not None and ours != str(row.id)):
            continue
        receipts.record(db, receipt)
        recorded += 1
    return recorded
