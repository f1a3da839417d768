"""Notify service entrypoints: events become queued messages (once per event, by natural key), the
sender loops in pipeline.py deliver them; RPCs manage templates, read the delivery log, work the
dead-letter list, take provider receipts and send one-time codes at once."""
from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from nameko.rpc import rpc

from contracts.campaigns import CampaignAnnounced
from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import (
    MemberBirthday,
    MemberConsentChanged,
    MemberErased,
    PointsAccrued,
    PointsExpiring,
    TierChanged,
)
from contracts.notify import (
    Message,
    MessageQuery,
    MessageStep,
    NotificationOutcome,
    Preview,
    PreviewOut,
    Receipt,
    SendCode,
    SendCodeOut,
    Template,
    TemplateOut,
)
from service_runtime.base import ServiceBase, parse_request
from service_runtime.config import env
from service_runtime.db import Tx
from service_runtime.events import subscribe, subscribe_batch
from services.notify import domain, store
from services.notify.channels import Outgoing, PermanentError, ProviderError, verify
from services.notify.pipeline import MESSAGES, BreakerOpen, Dispatcher, Pipeline

log = logging.getLogger(__name__)
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)
TEMPLATE_EDITORS = ("admin", "marketer")
LOG_READERS = ("admin", "marketer", "auditor", "manager")


def _uuid(value: str, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInput("not an id", field) from None


def _template_out(row: Any) -> TemplateOut:
    return TemplateOut(key=row.key, channel=row.channel, locale=row.locale, subject=row.subject, body=row.body,
                       version=row.version, variables=sorted(domain.KIND_VARIABLES[domain.kind_of(row.key)]),
                       updated_at=row.updated_at, updated_by=row.updated_by)


def _message(row: Any, steps: list[Any] | None = None) -> Message:
    return Message(message_id=row.id, member_id=row.member_id, campaign_id=row.campaign_id, template=row.template,
                   channel=row.channel, marketing=row.marketing, status=row.status, reason=row.reason,
                   attempts=row.attempts, last_error=row.last_error, provider_message_id=row.provider_message_id,
                   not_before=row.not_before, created_at=row.created_at, sent_at=row.sent_at,
                   delivered_at=row.delivered_at, dead_at=row.dead_at, replayed_at=row.replayed_at,
                   steps=[MessageStep(status=s.status, detail=s.detail, at=s.at) for s in steps or []])


class NotifyService(ServiceBase):
    name = "notify"
    pipeline: Pipeline = Dispatcher()  # type: ignore[assignment]

    # -- who may call (the gateway checks too) ------------------------------------------------------
    def _require(self, *roles: str) -> None:
        caller = self.caller
        if caller.kind == "internal":
            return
        granted = set(roles) & set(caller.roles) if caller.kind == "staff" else set()
        if granted == {"manager"} and caller.stores is not None:
            # the log holds every store's members and notify does not know their stores: a store
            # manager's view would leak other stores' members, so only chain-wide managers read it
            raise Forbidden("store managers cannot read the chain's delivery log; ask an admin or marketer")
        if granted:
            return
        raise Forbidden(f"needs one of the roles {list(roles)}")

    def _queue(self, tx: Tx, *, dedupe_key: str, template: str, channels: tuple[str, ...] | list[str],
               member_id: str, variables: dict[str, Any], campaign_id: str | None = None,
               store_code: str | None = None) -> None:
        for channel in channels:
            _, created = store.enqueue(tx, dedupe_key=f"{dedupe_key}:{channel}", template=template, channel=channel,
                                       member_id=member_id, variables=variables, campaign_id=campaign_id,
                                       store=store_code)
            if created:
                MESSAGES.labels(channel, "queued", "").inc()
            self.pipeline.wake(channel)  # the loop also polls, in case it looks before this commits

    # -- events -------------------------------------------------------------------------------------
    @subscribe("members", "member.consent_changed")
    def on_consent_changed(self, tx: Tx, event: MemberConsentChanged, envelope: Envelope) -> None:
        store.set_consent(tx, event.member_id, event.channel, event.granted, event.changed_at)

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        now = datetime.now(UTC)
        for row in store.erase_member(tx, event.member_id):
            store.log(tx, row.id, "suppressed", "member_erased")
            tx.emit(NotificationOutcome(message_id=row.id, member_id=event.member_id, campaign_id=row.campaign_id,
                                        channel=row.channel, status="suppressed", reason="member_erased", at=now))

    @subscribe("members", "member.birthday")
    def on_member_birthday(self, tx: Tx, event: MemberBirthday, envelope: Envelope) -> None:
        self._queue(tx, dedupe_key=f"birthday:{event.member_id}:{event.year}", template="birthday",
                    channels=self.pipeline.config.transactional_channels, member_id=event.member_id,
                    variables={"year": event.year}, store_code=event.registration_store)

    @subscribe("points", "points.expiring")
    def on_points_expiring(self, tx: Tx, event: PointsExpiring, envelope: Envelope) -> None:
        self._queue(tx, dedupe_key=f"expiring:{event.member_id}:{event.expires_at.date()}:{event.days_ahead}",
                    template="points.expiring", channels=self.pipeline.config.transactional_channels,
                    member_id=event.member_id,
                    variables={"points": event.points, "expiry_date": event.expires_at.date().isoformat(),
                               "days_ahead": event.days_ahead})

    @subscribe_batch("points", "points.accrued", when=lambda self: self.pipeline.config.points_receipts)
    def on_points_accrued(self, tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
        """The points receipt for a sale, when configured (NOTIFY_POINTS_RECEIPTS=true): off by
        default, since the till prints one and a message per purchase is a lot. Taken in batches:
        this is every sale's event; when receipts are off they are acknowledged unread."""
        for event, _ in events:
            if event.source != "sale" or event.points <= 0:
                continue
            self._queue(tx, dedupe_key=f"receipt:{event.member_id}:{event.store}:{event.reference}",
                        template="points.receipt", channels=self.pipeline.config.transactional_channels,
                        member_id=event.member_id, store_code=event.store,
                        variables={"points": event.points, "balance": event.balance, "store": event.store or "",
                                   "amount": "" if event.amount is None else f"{event.amount:.2f}"})

    @subscribe("points", "tier.changed")
    def on_tier_changed(self, tx: Tx, event: TierChanged, envelope: Envelope) -> None:
        self._queue(tx, dedupe_key=f"tier:{event.member_id}:{event.new_tier}:{event.changed_at.isoformat()}",
                    template="tier.changed",
                    channels=self.pipeline.config.transactional_channels, member_id=event.member_id,
                    variables={"old_tier": event.old_tier, "new_tier": event.new_tier})

    @subscribe("campaigns", "campaign.announced")
    def on_campaign_announced(self, tx: Tx, event: CampaignAnnounced, envelope: Envelope) -> None:
        # one announcement per (campaign, member, channel), even if campaigns emits it twice
        template = event.template if event.template.startswith("campaign.") else f"campaign.{event.template}"
        self._queue(tx, dedupe_key=f"campaign:{event.campaign_id}:{event.member_id}", template=template,
                    channels=[event.channel], member_id=event.member_id, variables=dict(event.variables),
                    campaign_id=event.campaign_id, store_code=event.store)

    # -- templates ------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def save_template(self, **request: Any) -> dict[str, Any]:
        self._require(*TEMPLATE_EDITORS)
        cmd: Template = parse_request(Template, request)
        domain.check_key(cmd.key)
        domain.check_template(cmd.key, cmd.subject, cmd.body)
        with self.db.transaction() as tx:
            row = store.save_template(tx, cmd.key, cmd.channel, cmd.locale, cmd.subject, cmd.body, self.caller.id)
        return _template_out(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def get_template(self, key: str, channel: str, locale: str) -> dict[str, Any]:
        self._require(*TEMPLATE_EDITORS)
        with self.db.transaction() as tx:
            row = store.get_template(tx, key, channel, locale)
        if row is None:
            raise NotFound(f"no template {key}/{channel}/{locale}", "key")
        return _template_out(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def list_templates(self, key: str | None = None) -> list[dict[str, Any]]:
        self._require(*TEMPLATE_EDITORS)
        with self.db.transaction() as tx:
            rows = store.list_templates(tx, key)
        return [_template_out(r).model_dump(mode="json") for r in rows]

    @rpc(expected_exceptions=EXPECTED)
    def delete_template(self, key: str, channel: str, locale: str) -> dict[str, Any]:
        self._require(*TEMPLATE_EDITORS)
        with self.db.transaction() as tx:
            deleted = store.delete_template(tx, key, channel, locale)
        return {"deleted": deleted}

    @rpc(expected_exceptions=EXPECTED)
    def preview(self, **request: Any) -> dict[str, Any]:
        """Render a saved template, or a draft (subject/body given), with the variables given; a variable
        the kind of message never has is refused like at save time; one left out is named."""
        self._require(*TEMPLATE_EDITORS)
        cmd: Preview = parse_request(Preview, request)
        domain.check_key(cmd.key)
        subject, body = cmd.subject, cmd.body
        if body is None:
            with self.db.transaction() as tx:
                row = store.find_template(tx, cmd.key, cmd.channel, cmd.locale)
            if row is None:
                raise NotFound(f"no template {cmd.key}/{cmd.channel}/{cmd.locale}", "key")
            subject, body = row.subject, row.body
        domain.check_template(cmd.key, subject, body)
        allowed = domain.KIND_VARIABLES[domain.kind_of(cmd.key)]
        for name in cmd.variables:
            if name not in allowed:
                raise InvalidInput(f"{cmd.key} messages have no variable {name!r}", f"variables.{name}")
        try:
            return PreviewOut(subject=domain.render(subject, dict(cmd.variables)) if subject else None,
                              body=domain.render(body, dict(cmd.variables))).model_dump(mode="json")
        except domain.MissingVariable as exc:
            raise InvalidInput(f"give a value for {exc.name!r}", f"variables.{exc.name}") from None

    # -- the delivery log and the dead-letter list -----------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def messages(self, **request: Any) -> list[dict[str, Any]]:
        cmd: MessageQuery = parse_request(MessageQuery, request)
        if self.caller.kind == "member":
            if cmd.member_id != self.caller.member_id:
                raise Forbidden("a member sees only their own messages", "member_id")
        else:
            self._require(*LOG_READERS)
        member_id = _uuid(cmd.member_id, "member_id") if cmd.member_id else None
        with self.db.transaction() as tx:
            rows = store.search(tx, member_id=member_id, campaign_id=cmd.campaign_id, status=cmd.status,
                                before=cmd.before, limit=cmd.limit)
        return [_message(r).model_dump(mode="json") for r in rows]

    @rpc(expected_exceptions=EXPECTED)
    def message(self, message_id: str) -> dict[str, Any]:
        message_id = _uuid(message_id, "message_id")
        with self.db.transaction() as tx:
            row = store.get(tx, message_id)
            steps = store.history(tx, message_id) if row is not None else []
        if row is None or (self.caller.kind == "member" and row.member_id != self.caller.member_id):
            raise NotFound(f"no message {message_id}", "message_id")
        if self.caller.kind != "member":
            self._require(*LOG_READERS)
        return _message(row, steps).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def dead_letters(self, before: str | None = None, limit: int = 50) -> dict[str, Any]:
        self._require("admin")
        try:
            when = datetime.fromisoformat(before) if before else None
        except ValueError:
            raise InvalidInput("an ISO-8601 time", "before") from None
        with self.db.transaction() as tx:
            rows = store.search(tx, dead=True, before=when, limit=max(1, min(int(limit), 200)))
            depth = store.dlq_depth(tx)
        return {"depth": depth, "items": [_message(r).model_dump(mode="json") for r in rows]}

    @rpc(expected_exceptions=EXPECTED)
    def replay(self, message_id: str) -> dict[str, Any]:
        """Put a dead-lettered message back in its queue with fresh attempts; replaying one that is no
        longer dead changes nothing (safe to repeat)."""
        self._require("admin")
        message_id = _uuid(message_id, "message_id")
        with self.db.transaction() as tx:
            row = store.get(tx, message_id, for_update=True)
            if row is None:
                raise NotFound(f"no message {message_id}", "message_id")
            if row.status == "failed" and row.dead_at is not None:
                if row.recipient_hash is not None:
                    raise Conflict("a one-time code is not sent again; ask for a new one", "message_id")
                store.update(tx, message_id, status="queued", attempts=0, dead_at=None, reason=None,
                             replayed_at=datetime.now(UTC), not_before=datetime.now(UTC))
                store.log(tx, message_id, "replayed", f"by {self.caller.kind}:{self.caller.id}")
            row = store.get(tx, message_id)
            steps = store.history(tx, message_id)
        self.pipeline.wake(row.channel)
        return _message(row, steps).model_dump(mode="json")

    # -- provider receipts ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def receipt(self, **request: Any) -> dict[str, Any]:
        """A provider reports a message delivered (or failed after accepting it); repeats change nothing."""
        if self.caller.kind != "internal":
            self._require("admin")
        return self._receipt(parse_request(Receipt, request))

    @rpc(expected_exceptions=EXPECTED)
    def signed_receipt(self, channel: str, timestamp: str, signature: str, body: str) -> dict[str, Any]:
        """A receipt as the provider posted it to the gateway, signed with the channel's provider secret
        (HMAC-SHA256 over timestamp.body, recent timestamps only, so an old receipt cannot be replayed)."""
        secret = env(f"NOTIFY_{domain.check_channel(channel).upper()}_SECRET", "")
        if not secret or not verify(secret, timestamp, body.encode(), signature, time.time()):
            raise Forbidden("bad or missing receipt signature", "signature")
        try:
            data = json.loads(body)
        except ValueError:
            raise InvalidInput("the body is not JSON", "body") from None
        if not isinstance(data, dict):
            raise InvalidInput("the body is a JSON object", "body")
        return self._receipt(parse_request(Receipt, data))

    def _receipt(self, cmd: Receipt) -> dict[str, Any]:
        now = datetime.now(UTC)
        with self.db.transaction() as tx:
            row = store.by_provider_id(tx, cmd.provider_message_id)
            if row is None:
                raise NotFound("no message with this provider message id", "provider_message_id")
            if row.status == "sent":
                delivered = cmd.status == "delivered"
                if delivered:
                    store.update(tx, row.id, status="delivered", delivered_at=now)
                else:
                    store.update(tx, row.id, status="failed", reason="undelivered", last_error=cmd.detail)
                store.log(tx, row.id, cmd.status, cmd.detail)
                tx.emit(NotificationOutcome(message_id=row.id, member_id=row.member_id, campaign_id=row.campaign_id,
                                            channel=row.channel, status="delivered" if delivered else "failed",
                                            reason=None if delivered else "undelivered", at=now))
                MESSAGES.labels(row.channel, cmd.status, "receipt").inc()
            row = store.get(tx, row.id)
        return _message(row).model_dump(mode="json")

    # -- one-time codes ----------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def send_code(self, **request: Any) -> dict[str, Any]:
        """An SMS with a login code, now: no consent, quiet hours or caps, but at most
        NOTIFY_CODES_PER_HOUR per phone. The code is never stored (only a hash of the phone)."""
        cmd: SendCode = parse_request(SendCode, request)
        config = self.pipeline.config
        digest = self.pipeline.phones.hash(cmd.phone)
        now = datetime.now(UTC)
        with self.db.transaction() as tx:
            store.lock_member(tx, digest)
            if store.codes_since(tx, digest, now - timedelta(hours=1)) >= config.codes_per_hour:
                MESSAGES.labels("sms", "suppressed", "code_rate").inc()
                raise Conflict("too many codes for this phone; try again within the hour", "phone")
            message_id, _ = store.enqueue(tx, dedupe_key=f"code:{uuid.uuid4()}", template="login_code", channel="sms",
                                          member_id=None, variables={}, status="sending", recipient_hash=digest)
            template = store.find_template(tx, "login_code", "sms", cmd.locale)
        if template is None:
            raise NotFound("no login_code template for sms", "locale")
        body = domain.render(template.body, {"code": cmd.code, "minutes": cmd.minutes})
        outgoing = Outgoing(message_id=message_id, channel="sms", to=cmd.phone, body=body, template="login_code")
        try:
            provider_id, used = self.pipeline.send(outgoing, attempts=min(3, config.max_attempts))
        except (ProviderError, PermanentError, BreakerOpen) as exc:
            with self.db.transaction() as tx:
                store.update(tx, message_id, status="failed", reason="provider_error", last_error=str(exc))
                store.log(tx, message_id, "failed", str(exc))
            MESSAGES.labels("sms", "failed", "provider_error").inc()
            raise Conflict("the code could not be sent; try again shortly", "phone") from None
        with self.db.transaction() as tx:
            store.update(tx, message_id, status="sent", attempts=used, provider_message_id=provider_id, sent_at=now)
            store.log(tx, message_id, "sent", None)
        MESSAGES.labels("sms", "sent", "").inc()
        return SendCodeOut(message_id=message_id, status="sent").model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def export_member(self, member_id: str) -> dict[str, Any]:
        member_id = _uuid(member_id, "member_id")
        with self.db.transaction() as tx:
            rows = store.search(tx, member_id=member_id, limit=200)
        return {"messages": [_message(r).model_dump(mode="json") for r in rows]}
