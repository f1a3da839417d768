"""Providers' delivery receipts: a sent message becomes delivered or failed; repeats change nothing."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from contracts.errors import Forbidden, InvalidInput, NotFound
from contracts.notify import NotificationOutcome, Receipt
from service_runtime.base import parse_request
from service_runtime.config import env
from service_runtime.db import WorkerDb
from services.notify import domain, repo
from services.notify.channels import verify
from services.notify.pipeline import MESSAGES


def signed(channel: str, timestamp: str, signature: str, body: str) -> Receipt:
    """The receipt in a body the provider signed with the channel's secret (HMAC-SHA256 over
    timestamp.body, recent timestamps only, so an old receipt cannot be replayed)."""
    secret = env(f"NOTIFY_{domain.check_channel(channel).upper()}_SECRET", "")
    if not secret or not verify(secret, timestamp, body.encode(), signature, time.time()):
        raise Forbidden("bad or missing receipt signature", "signature")
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", "body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body is a JSON object", "body")
    receipt: Receipt = parse_request(Receipt, data)
    return receipt


def record(db: WorkerDb, cmd: Receipt) -> Any:
    """The message after the receipt."""
    now = datetime.now(UTC)
    with db.transaction() as tx:
        row = repo.by_provider_id(tx, cmd.provider_message_id)
        if row is None:
            raise NotFound("no message with this provider message id", "provider_message_id")
        if row.status == "sent":
            delivered = cmd.status == "delivered"
            if delivered:
                repo.update(tx, row.id, status="delivered", delivered_at=now)
            else:
                repo.update(tx, row.id, status="failed", reason="undelivered", last_error=cmd.detail)
            repo.log(tx, row.id, cmd.status, cmd.detail)
            tx.emit(NotificationOutcome(message_id=row.id, member_id=row.member_id, campaign_id=row.campaign_id,
                                        channel=row.channel, status="delivered" if delivered else "failed",
                                        reason=None if delivered else "undelivered", at=now))
            MESSAGES.labels(row.channel, cmd.status, "receipt").inc()
        return repo.get(tx, row.id)
