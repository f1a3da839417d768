"""One-time login codes by SMS, sent at once: no consent, quiet hours or caps, but a limit per phone."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from contracts.errors import Conflict, NotFound
from contracts.notify import SendCode
from service_runtime.db import WorkerDb
from services.notify import domain, repo
from services.notify.channels import Outgoing, PermanentError, ProviderError
from services.notify.pipeline import MESSAGES, BreakerOpen, Pipeline


def send(db: WorkerDb, pipeline: Pipeline, cmd: SendCode) -> str:
    """The message id of the code sent; Conflict when over the limit or the provider failed.
    The code is never stored (only a hash of the phone)."""
    config = pipeline.config
    digest = pipeline.phones.hash(cmd.phone)
    now = datetime.now(UTC)
    with db.transaction() as tx:
        repo.lock_member(tx, digest)
        if repo.codes_since(tx, digest, now - timedelta(hours=1)) >= config.codes_per_hour:
            MESSAGES.labels("sms", "suppressed", "code_rate").inc()
            raise Conflict("too many codes for this phone; try again within the hour", "phone")
        message_id, _ = repo.enqueue(tx, dedupe_key=f"code:{uuid.uuid4()}", template="login_code", channel="sms",
                                     member_id=None, variables={}, status="sending", recipient_hash=digest)
        template = repo.find_template(tx, "login_code", "sms", cmd.locale)
    if template is None:
        raise NotFound("no login_code template for sms", "locale")
    body = domain.render(template.body, {"code": cmd.code, "minutes": cmd.minutes})
    outgoing = Outgoing(message_id=message_id, channel="sms", to=cmd.phone, body=body, template="login_code",
                        variables={"code": cmd.code, "minutes": cmd.minutes})
    try:
        provider_id, used = pipeline.send(outgoing, attempts=min(3, config.max_attempts))
    except (ProviderError, PermanentError, BreakerOpen) as exc:
        with db.transaction() as tx:
            repo.update(tx, message_id, status="failed", reason="provider_error", last_error=str(exc))
            repo.log(tx, message_id, "failed", str(exc))
        MESSAGES.labels("sms", "failed", "provider_error").inc()
        raise Conflict("the code could not be sent; try again shortly", "phone") from None
    with db.transaction() as tx:
        repo.update(tx, message_id, status="sent", attempts=used, provider_message_id=provider_id, sent_at=now)
        repo.log(tx, message_id, "sent", None)
    MESSAGES.labels("sms", "sent", "").inc()
    return str(message_id)
