"""Notify service entrypoints: events become queued messages (intake.py), the sender loops in
pipeline.py deliver them; RPCs manage templates, read the delivery log, work the dead-letter
list, take provider receipts and send one-time codes at once."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from nameko.rpc import rpc

from contracts.access import ADMIN, CHAIN_READERS, EXPORTERS, MARKETING, parse_id, require
from contracts.campaigns import CampaignAnnounced
from contracts.care import TicketChanged
from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceUnavailable
from contracts.events import (
    MemberBirthday,
    MemberConsentChanged,
    MemberErased,
    PointsAccrued,
    PointsExpiring,
    TierChanged,
)
from contracts.notify import MessageQuery, Preview, Receipt, SendCode, SendCodeOut, Template
from service_runtime.base import parse_request
from service_runtime.db import Tx
from service_runtime.events import subscribe, subscribe_batch
from service_runtime.store_zones import StoreZoneFeed
from services.notify import (
    codes,
    deliveries,
    intake,
    receipts,
    repo,
    tables,
    templates,
    vendor_receipts,
    views,
    wechat_events,
    wechat_login,
    wechat_official,
)
from services.notify.pipeline import Dispatcher, Pipeline

log = logging.getLogger(__name__)
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)


class NotifyService(StoreZoneFeed):
    name = "notify"
    pipeline: Pipeline = Dispatcher()  # type: ignore[assignment]
    store_zones_table = tables.store_zones

    # -- who may call (the gateway checks too) ------------------------------------------------------
    def _require(self, roles: frozenset[str]) -> None:
        caller = self.caller
        require(caller, roles)
        if caller.kind == "staff" and roles & set(caller.roles) == {"manager"} and caller.stores is not None:
            # the log holds every store's members and notify does not know their stores: a store
            # manager's view would leak other stores' members, so only chain-wide managers read it
            raise Forbidden("store managers cannot read the chain's delivery log; ask an admin or marketer")

    # -- events -------------------------------------------------------------------------------------
    @subscribe("members", "member.consent_changed")
    def on_consent_changed(self, tx: Tx, event: MemberConsentChanged, envelope: Envelope) -> None:
        repo.set_consent(tx, event.member_id, event.channel, event.granted, event.changed_at)

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        intake.member_erased(tx, event.member_id)

    @subscribe("members", "member.birthday")
    def on_member_birthday(self, tx: Tx, event: MemberBirthday, envelope: Envelope) -> None:
        intake.transactional(tx, self.pipeline, dedupe_key=f"birthday:{event.member_id}:{event.year}",
                             template="birthday", member_id=event.member_id, variables={"year": event.year},
                             store_code=event.registration_store)

    @subscribe("points", "points.expiring")
    def on_points_expiring(self, tx: Tx, event: PointsExpiring, envelope: Envelope) -> None:
        intake.transactional(
            tx, self.pipeline, dedupe_key=f"expiring:{event.member_id}:{event.expires_at.date()}:{event.days_ahead}",
            template="points.expiring", member_id=event.member_id,
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
            intake.transactional(
                tx, self.pipeline, dedupe_key=f"receipt:{event.member_id}:{event.store}:{event.reference}",
                template="points.receipt", member_id=event.member_id, store_code=event.store,
                variables={"points": event.points, "balance": event.balance, "store": event.store or "",
                           "amount": "" if event.amount is None else f"{event.amount:.2f}"})

    @subscribe("points", "tier.changed")
    def on_tier_changed(self, tx: Tx, event: TierChanged, envelope: Envelope) -> None:
        intake.transactional(
            tx, self.pipeline, dedupe_key=f"tier:{event.member_id}:{event.new_tier}:{event.changed_at.isoformat()}",
            template="tier.changed", member_id=event.member_id,
            variables={"old_tier": event.old_tier, "new_tier": event.new_tier})

    @subscribe("care", "ticket.changed")
    def on_ticket_changed(self, tx: Tx, event: TicketChanged, envelope: Envelope) -> None:
        # the member hears what staff did to their ticket, not their own changes nor internal moves
        if event.by_member or event.change not in ("status", "comment", "goodwill"):
            return
        intake.transactional(tx, self.pipeline, dedupe_key=f"ticket:{envelope.event_id}", template="ticket.changed",
                             member_id=event.member_id, store_code=event.store,
                             variables={"status": event.status.replace("_", " "), "ticket_ref": event.ticket_id[:8]})

    @subscribe("campaigns", "campaign.announced")
    def on_campaign_announced(self, tx: Tx, event: CampaignAnnounced, envelope: Envelope) -> None:
        # one announcement per (campaign, member, channel), even if campaigns emits it twice
        template = event.template if event.template.startswith("campaign.") else f"campaign.{event.template}"
        intake.queue(tx, self.pipeline, dedupe_key=f"campaign:{event.campaign_id}:{event.member_id}",
                     template=template, channels=[event.channel], member_id=event.member_id,
                     variables=dict(event.variables), campaign_id=event.campaign_id, store_code=event.store)

    # -- templates ------------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def save_template(self, **request: Any) -> dict[str, Any]:
        self._require(MARKETING)
        cmd: Template = parse_request(Template, request)
        return views.template(templates.save(self.db, cmd, self.caller.id)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def get_template(self, key: str, channel: str, locale: str) -> dict[str, Any]:
        self._require(MARKETING)
        return views.template(templates.get(self.db, key, channel, locale)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def list_templates(self, key: str | None = None) -> list[dict[str, Any]]:
        self._require(MARKETING)
        return [views.template(r).model_dump(mode="json") for r in templates.listed(self.db, key)]

    @rpc(expected_exceptions=EXPECTED)
    def delete_template(self, key: str, channel: str, locale: str) -> dict[str, Any]:
        self._require(MARKETING)
        return {"deleted": templates.delete(self.db, key, channel, locale)}

    @rpc(expected_exceptions=EXPECTED)
    def preview(self, **request: Any) -> dict[str, Any]:
        """Render a saved template, or a draft (subject/body given), with the variables given."""
        self._require(MARKETING)
        cmd: Preview = parse_request(Preview, request)
        return templates.preview(self.db, cmd).model_dump(mode="json")

    # -- the delivery log and the dead-letter list -----------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def messages(self, **request: Any) -> list[dict[str, Any]]:
        cmd: MessageQuery = parse_request(MessageQuery, request)
        if self.caller.kind == "member":
            if cmd.member_id != self.caller.member_id:
                raise Forbidden("a member sees only their own messages", "member_id")
        else:
            self._require(CHAIN_READERS)
        member_id = parse_id(cmd.member_id, "member_id") if cmd.member_id else None
        return [views.message(r).model_dump(mode="json") for r in deliveries.search(self.db, cmd, member_id)]

    @rpc(expected_exceptions=EXPECTED)
    def message(self, message_id: str) -> dict[str, Any]:
        message_id = parse_id(message_id, "message_id")
        row, steps = deliveries.one(self.db, message_id)
        if row is None or (self.caller.kind == "member" and row.member_id != self.caller.member_id):
            raise NotFound(f"no message {message_id}", "message_id")
        if self.caller.kind != "member":
            self._require(CHAIN_READERS)
        return views.message(row, steps).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def dead_letters(self, before: str | None = None, limit: int = 50) -> dict[str, Any]:
        self._require(ADMIN)
        try:
            when = datetime.fromisoformat(before) if before else None
        except ValueError:
            raise InvalidInput("an ISO-8601 time", "before") from None
        depth, rows = deliveries.dead(self.db, when, int(limit))
        return {"depth": depth, "items": [views.message(r).model_dump(mode="json") for r in rows]}

    @rpc(expected_exceptions=EXPECTED)
    def replay(self, message_id: str) -> dict[str, Any]:
        """Put a dead-lettered message back in its queue; replaying one that is not dead changes nothing."""
        self._require(ADMIN)
        message_id = parse_id(message_id, "message_id")
        row, steps = deliveries.replay(self.db, message_id, f"{self.caller.kind}:{self.caller.id}")
        self.pipeline.wake(row.channel)
        return views.message(row, steps).model_dump(mode="json")

    # -- provider receipts ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def receipt(self, **request: Any) -> dict[str, Any]:
        """A provider reports a message delivered (or failed after accepting it); repeats change nothing."""
        self._require(ADMIN)  # or a service
        cmd: Receipt = parse_request(Receipt, request)
        return views.message(receipts.record(self.db, cmd)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def signed_receipt(self, channel: str, timestamp: str, signature: str, body: str) -> dict[str, Any]:
        """A receipt as the provider posted it to the gateway, signed with the channel's provider secret."""
        cmd = receipts.signed(channel, timestamp, signature, body)
        return views.message(receipts.record(self.db, cmd)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def vendor_receipts(self, vendor: str, token: str, body: str) -> dict[str, Any]:
        """Delivery reports an SMS vendor pushed (Alibaba SmsReport, Tencent status callback), with the
        callback URL's token; answers the acknowledgement the vendor expects."""
        return vendor_receipts.take(self.db, vendor, token, body)

    @rpc(expected_exceptions=EXPECTED)
    def wechat_push(self, timestamp: str, nonce: str, signature: str, body: str | None = None) -> dict[str, Any]:
        """WeChat's signed message push: without a body, the check of the push URL; with one, the
        results of subscribe messages."""
        if body is None:
            wechat_events.check(timestamp, nonce, signature)
            return {"recorded": 0}
        return {"recorded": wechat_events.take(self.db, timestamp, nonce, signature, body)}

    # -- WeChat mini-program login (the gateway only) ----------------------------------------------------
    @rpc(expected_exceptions=EXPECTED + (ServiceUnavailable,))
    def wechat_session(self, code: str, phone_code: str | None = None, consent: bool = False) -> dict[str, Any]:
        """The WeChat user of a wx.login code, their member when linked, else their phone when they
        shared it with consent (the gateway then finds the member and calls wechat_link)."""
        wechat_login.only_the_gateway(self.caller)
        if not isinstance(code, str) or not 1 <= len(code) <= 128:
            raise InvalidInput("a wx.login code", "code")
        app = wechat_login.app_of(self.pipeline)
        return wechat_login.session(self.db, app, code, phone_code or None, consent is True)

    @rpc(expected_exceptions=EXPECTED + (ServiceUnavailable,))
    def wechat_link(self, openid: str, member_id: str, unionid: str | None = None) -> dict[str, Any]:
        wechat_login.only_the_gateway(self.caller)
        member_id = parse_id(member_id, "member_id")
        return wechat_login.link(self.db, wechat_login.app_of(self.pipeline), openid, member_id, unionid)

    # -- WeChat official account: follows, template-message results, members' links -------------------
    @rpc(expected_exceptions=EXPECTED + (ServiceUnavailable,))
    def wechat_oa_push(self, timestamp: str, nonce: str, signature: str, body: str | None = None) -> dict[str, Any]:
        """The official account's signed XML push: without a body, the check of the server URL; with one,
        subscribe/unsubscribe events and TEMPLATESENDJOBFINISH."""
        wechat_official.check_push(timestamp, nonce, signature)
        if body is None:
            return {"event": "", "recorded": 0}
        return wechat_official.take_push(self.db, wechat_official.app_of(self.pipeline), body)

    @rpc(expected_exceptions=EXPECTED + (ServiceUnavailable,))
    def wechat_oa_link(self, code: str, consent: bool = False) -> dict[str, Any]:
        """Link the calling member's official-account openid from a web-authorisation code (snsapi_base)."""
        member_id = wechat_official.the_member(self.caller)
        if not isinstance(code, str) or not 1 <= len(code) <= 128:
            raise InvalidInput("a web-authorisation code", "code")
        if consent is not True:  # nothing is asked of WeChat nor written without it
            raise InvalidInput("the member must agree (consent=true) to link WeChat to their membership", "consent")
        return wechat_official.link_by_web_code(self.db, wechat_official.app_of(self.pipeline), member_id, code)

    @rpc(expected_exceptions=EXPECTED)
    def wechat_unlink(self) -> dict[str, Any]:
        """The calling member withdraws their consent: every WeChat openid of theirs is forgotten."""
        member_id = wechat_official.the_member(self.caller)
        with self.db.transaction() as tx:
            return {"unlinked": repo.unlink_wechat(tx, member_id)}

    # -- one-time codes ----------------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def send_code(self, **request: Any) -> dict[str, Any]:
        """An SMS with a login code, now: no consent, quiet hours or caps, but at most
        NOTIFY_CODES_PER_HOUR per phone. The code is never stored (only a hash of the phone)."""
        cmd: SendCode = parse_request(SendCode, request)
        message_id = codes.send(self.db, self.pipeline, cmd)
        return SendCodeOut(message_id=message_id, status="sent").model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def export_member(self, member_id: str) -> dict[str, Any]:
        member_id = parse_id(member_id, "member_id")
        require(self.caller, EXPORTERS, member=member_id)
        rows = deliveries.of_member(self.db, member_id)
        with self.db.transaction() as tx:
            links = repo.wechat_links_of(tx, member_id)
        return {"messages": [views.message(r).model_dump(mode="json") for r in rows], "wechat_links": links}
