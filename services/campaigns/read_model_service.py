"""Entrypoints of the member read model (campaigns' own copy of members and their purchase
stats, fed by members' and points' events), and what campaigns holds about one member."""
from __future__ import annotations

from typing import Any

from contracts.access import EXPORTERS, MARKETING_READERS, parse_id, require
from contracts.envelope import Envelope
from contracts.events import (
    MemberErased,
    MemberLifecycleChanged,
    MemberMerged,
    MemberRegistered,
    MembersImported,
    MemberUpdated,
    PointsAccrued,
    PointsAdjusted,
    PointsExpired,
    PointsRedeemed,
    PointsReversed,
    TierChanged,
)
from service_runtime.db import Tx
from service_runtime.events import READ_MODEL_WAIT, subscribe, subscribe_batch
from services.campaigns import read_model
from services.campaigns import read_model_repo as repo
from services.campaigns.worker import CampaignsWorker, rpc_method

SEGMENT_FIELDS = ("gender", "birthday", "tags", "registration_store")


def _members_registered(tx: Tx, events: list[MemberRegistered]) -> None:
    repo.members_registered(tx, {event.member_id: {
        "store": event.registration_store, "channel": event.channel, "registered_at": event.registered_at,
        "gender": event.gender, "birthday": event.birthday, "tags": event.tags} for event in events})


class ReadModelEntrypoints(CampaignsWorker):
    @subscribe_batch("members", "member.registered")
    def on_member_registered(self, tx: Tx, events: list[tuple[MemberRegistered, Envelope]]) -> None:
        """In batches (one statement each): registrations come in bursts at opening time."""
        _members_registered(tx, [event for event, _ in events])

    @subscribe_batch("members", "members.imported", max_batch=10)
    def on_members_imported(self, tx: Tx, events: list[tuple[MembersImported, Envelope]]) -> None:
        """A bulk import's members, up to 500 an event, in one statement."""
        _members_registered(tx, [member for event, _ in events for member in event.members])

    @subscribe("members", "member.updated")
    def on_member_updated(self, tx: Tx, event: MemberUpdated, envelope: Envelope) -> None:
        changes = {f: getattr(event, f) for f in SEGMENT_FIELDS if f in event.changed_fields}
        repo.member_updated(tx, event.member_id, event.version, event.status, changes)

    @subscribe("members", "member.erased")
    def on_member_erased(self, tx: Tx, event: MemberErased, envelope: Envelope) -> None:
        repo.member_erased(tx, event.member_id)

    @subscribe_batch("members", "member.lifecycle_changed")
    def on_member_lifecycle_changed(self, tx: Tx, events: list[tuple[MemberLifecycleChanged, Envelope]]) -> None:
        """The class for segments, then the campaigns it triggers (a win-back when dormant); in
        batches: a daily run or a threshold change moves many members at once."""
        read_model.lifecycle_changed(tx, events)

    @subscribe("members", "member.merged")
    def on_member_merged(self, tx: Tx, event: MemberMerged, envelope: Envelope) -> None:
        repo.member_merged(tx, event.survivor_id, event.merged_id)

    # every till sale's event: waiting up to a quarter second for more (a read model for segments,
    # not a till's answer) groups several sales a batch where 0.05 s grouped one or two, and a
    # batch's cost hardly depends on its size (docs/decisions/0028-set-based-consumers.md)
    @subscribe_batch("points", "points.accrued", max_wait=READ_MODEL_WAIT)
    def on_points_accrued(self, tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
        """In batches, a few statements each: offline uploads and busy hours bring these in bursts."""
        read_model.record_accruals(tx, events)

    # the rest of points' events in batches too, one statement a table: uploads and busy hours
    # bring refunds and tier changes in bursts (docs/decisions/0028-set-based-consumers.md)
    @subscribe_batch("points", "points.reversed")
    def on_points_reversed(self, tx: Tx, events: list[tuple[PointsReversed, Envelope]]) -> None:
        read_model.record_refunds(tx, events)

    @subscribe_batch("points", "points.redeemed")
    def on_points_redeemed(self, tx: Tx, events: list[tuple[PointsRedeemed, Envelope]]) -> None:
        repo.balances_seen(tx, read_model.latest_balances(events))

    @subscribe_batch("points", "points.adjusted")
    def on_points_adjusted(self, tx: Tx, events: list[tuple[PointsAdjusted, Envelope]]) -> None:
        repo.balances_seen(tx, read_model.latest_balances(events))

    @subscribe_batch("points", "points.expired")
    def on_points_expired(self, tx: Tx, events: list[tuple[PointsExpired, Envelope]]) -> None:
        repo.balances_seen(tx, read_model.latest_balances(events))

    @subscribe_batch("points", "tier.changed")
    def on_tier_changed(self, tx: Tx, events: list[tuple[TierChanged, Envelope]]) -> None:
        read_model.record_tiers(tx, events)

    @rpc_method
    def read_model_member(self, member_id: str) -> dict[str, Any]:
        """One member as the read model holds them (operators, tests)."""
        require(self.who(), MARKETING_READERS)
        member_id = parse_id(member_id, "member_id")
        with self.tx() as tx:
            return read_model.member_view(tx, member_id)

    @rpc_method
    def export_member(self, member_id: str) -> dict[str, Any]:
        """What campaigns holds about one member, for a privacy export (see read_model)."""
        member_id = parse_id(member_id, "member_id")
        require(self.who(), EXPORTERS, member=member_id)
        with self.tx() as tx:
            return read_model.member_export(tx, member_id)
