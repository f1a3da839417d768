"""Events become queued messages, once per event (a natural dedupe key per message and channel)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.notify import NotificationOutcome
from service_runtime.db import Tx
from services.notify import repo
from services.notify.pipeline import MESSAGES, Pipeline


def queue(tx: Tx, pipeline: Pipeline, *, dedupe_key: str, template: str, channels: tuple[str, ...] | list[str],
          member_id: str, variables: dict[str, Any], campaign_id: str | None = None,
          store_code: str | None = None) -> None:
    for channel in channels:
        _, created = repo.enqueue(tx, dedupe_key=f"{dedupe_key}:{channel}", template=template, channel=channel,
                                  member_id=member_id, variables=variables, campaign_id=campaign_id,
                                  store=store_code)
        if created:
            MESSAGES.labels(channel, "queued", "").inc()
        pipeline.wake(channel)  # the loop also polls, in case it looks before this commits


def transactional(tx: Tx, pipeline: Pipeline, *, dedupe_key: str, template: str, member_id: str,
                  variables: dict[str, Any], store_code: str | None = None) -> None:
    """A message every member gets on the configured transactional channels (consent permitting)."""
    queue(tx, pipeline, dedupe_key=dedupe_key, template=template, channels=pipeline.config.transactional_channels,
          member_id=member_id, variables=variables, store_code=store_code)


def member_erased(tx: Tx, member_id: str) -> None:
    """The member's queued messages are suppressed and their contacts forgotten."""
    now = datetime.now(UTC)
    for row in repo.erase_member(tx, member_id):
        repo.log(tx, row.id, "suppressed", "member_erased")
        tx.emit(NotificationOutcome(message_id=row.id, member_id=member_id, campaign_id=row.campaign_id,
                                    channel=row.channel, status="suppressed", reason="member_erased", at=now))
