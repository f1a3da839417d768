"""A campaign's life after it is planned: moving between states, the launch (snapshot, control
group, coupons / bonus rules, announcements), member days, and coupons given on a member's
birthday or referral."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts.campaigns import CampaignAnnounced, CampaignAudienceGranted, CampaignBonusEnded, CampaignBonusStarted
from contracts.errors import Conflict, NotFound
from service_runtime.config import StoreZones
from service_runtime.db import Tx
from services.campaigns.campaigns import repo, rules
from services.campaigns.coupons import interface as coupons
from services.campaigns.segments import repo as segments
from services.campaigns.segments.rules import parse_rule
from services.campaigns.stores import repo as stores_repo

log = logging.getLogger(__name__)
SNAPSHOT_NS = uuid.UUID("6f1d7c52-7f0e-4a8e-9a51-3c2f7f9b2d10")
ANNOUNCE_CHUNK = 5_000
AUDIENCE_CHUNK = 1_000  # member ids per campaign.audience_granted event


def move(tx: Tx, row: Any, status: str, now: datetime, actor: str, note: str | None) -> Any:
    if status == "running" and row.launched_at is None:
        return launch(tx, row, now, actor, note)
    if status == "running":  # resumed
        updated = repo.set_status(tx, row, status, actor, note)
        bonus_start(tx, updated, now, f"{row.id}:v{updated.version}")
        return updated
    if status in ("paused", "finished") and row.status == "running" and row.type in rules.POINTS_TYPES:
        tx.emit(CampaignBonusEnded(campaign_id=str(row.id), ended_at=now))
    return repo.set_status(tx, row, status, actor, note)


def launch(tx: Tx, row: Any, now: datetime, actor: str, note: str | None) -> Any:
    """Fix the audience (snapshot, control group), then coupons / bonus rules / announcements.
    Runs once under the campaign's row lock, so caps over the audience hold."""
    campaign_id = str(row.id)
    segment = segments.get_segment(tx, str(row.segment_id))
    snapshot_id = str(uuid.uuid5(SNAPSHOT_NS, campaign_id))
    segments.take_snapshot(tx, snapshot_id, segment, parse_rule(segment.rule), now.date())
    spec = row.spec
    if not spec.get("trigger_lifecycle"):  # a triggered campaign's audience joins as it triggers (enrol)
        repo.fill_audience(tx, campaign_id, snapshot_id, rules.control_threshold(Decimal(row.control_share)))
    updated = repo.set_status(tx, row, "running", actor, note or "launched", snapshot_id=snapshot_id,
                                launched_at=now)
    granted: list[str] | None = None  # coupon campaigns tell only the members who got a coupon
    if row.type in rules.COUPON_TYPES and not rules.on_event(row.type, spec):  # those go out on the day
        granted = issue(tx, updated, None)
    bonus_start(tx, updated, now, campaign_id)
    if spec.get("channel") and row.type != "birthday" and not spec.get("trigger_lifecycle"):
        announce(tx, updated, now, granted)
    return updated


def issue(tx: Tx, row: Any, member_id: str | None) -> list[str]:
    """Coupons to treated members within the per-member limit, the coupon cap and the money cap
    (each coupon counts its face value)."""
    spec = row.spec
    budget = spec.get("budget") or {}
    cap = budget.get("coupons")
    if budget.get("money") is not None:
        face = coupons.face_value(tx, spec["coupon_template_id"])
        if face > 0:
            by_money = int(Decimal(budget["money"]) // face)
            cap = by_money if cap is None else min(cap, by_money)
    granted = repo.grant(tx, str(row.id), int(spec.get("per_member_limit") or 1), cap, member_id)
    by_number: dict[int, list[str]] = {}
    for member, number in granted:  # a member's 2nd coupon of the campaign is another coupon
        by_number.setdefault(number, []).append(member)
    for number, members in sorted(by_number.items()):
        coupons.start_issue_job(tx, spec["coupon_template_id"], members,
                                     source="birthday" if row.type == "birthday" else "campaign",
                                     campaign_id=str(row.id), occurrence=number)
    return [member for member, _ in granted]


def on_referrals(tx: Tx, referrers: list[tuple[str, str | None, datetime]]) -> None:
    """Referral campaigns: each referral points credited (member, store, time) gives the
    referrer a coupon if they are in a running referral campaign's treated audience, up to its
    per-member limit (referrals rewarded per referrer) and its coupon cap."""
    for member_id, store, at in referrers:
        reward_on_event(tx, "referral", member_id, store, at)


def reward_on_event(tx: Tx, kind: str, member_id: str, store: str | None, at: datetime) -> None:
    for found in repo.live_of_type(tx, kind, at):
        reward(tx, repo.get(tx, str(found.id), lock=True), kind, member_id, store, at)


def on_lifecycle(tx: Tx, member_id: str, to_class: str, store: str | None, at: datetime) -> None:
    """Campaigns triggered by this class: the member joins the audience if the segment selects them
    now (treated or control by the same hash as at launch), then a treated member gets the coupon
    within the per-member limit and the caps."""
    for found in repo.live_triggered(tx, to_class, at):
        row = repo.get(tx, str(found.id), lock=True)
        segment = segments.get_segment(tx, str(row.segment_id))
        if not segments.matches(tx, parse_rule(segment.rule), at.date(), member_id):
            continue
        repo.enrol(tx, str(row.id), member_id, rules.control_threshold(Decimal(row.control_share)))
        reward(tx, row, f"lifecycle {to_class}", member_id, store, at)


def reward(tx: Tx, row: Any, kind: str, member_id: str, store: str | None, at: datetime) -> None:
    """One member's coupon from one campaign on an event of theirs, and its announcement."""
    try:
        with tx.conn.begin_nested():  # a refused issue takes back its grant, nothing else
            granted = issue(tx, row, member_id)
    except (Conflict, NotFound) as refused:  # the template's budget is used up, or it is gone
        log.warning("campaign %s gave no %s coupon to %s: %s", row.id, kind, member_id, refused)
        return  # the event that brought us here (a sale's points, a birthday) is handled still
    if granted and row.spec.get("channel"):
        tx.emit(CampaignAnnounced(campaign_id=str(row.id), member_id=member_id, channel=row.spec["channel"],
                                  template=row.spec["template"], variables=announcement_variables(tx, row),
                                  store=store, announced_at=at))


def send_audience(tx: Tx, row: Any) -> None:
    """Tell points the treated audience its audience-only bonus rules reward, in pages. Sent with
    every bonus start (launch, resume, each member day): points keeps each member once, and a
    campaign launched before audiences existed gets one."""
    campaign_id = str(row.id)
    page = [str(m.member_id) for m in repo.treated(tx, campaign_id, AUDIENCE_CHUNK)]
    while page:
        tx.emit(CampaignAudienceGranted(campaign_id=campaign_id, member_ids=page))
        page = [str(m.member_id) for m in repo.treated(tx, campaign_id, AUDIENCE_CHUNK, page[-1])]


def bonus_start(tx: Tx, row: Any, now: datetime, key: str) -> None:
    spec = row.spec
    if row.type in ("points_multiplier", "points_bonus"):
        send_audience(tx, row)
        tx.emit(CampaignBonusStarted(campaign_id=str(row.id), rule_key=key, name=row.name,
                                     starts_at=max(now, row.starts_at), ends_at=row.ends_at,
                                     multiplier=spec.get("multiplier"), points_per_sale=spec.get("points_per_sale"),
                                     stores=spec.get("stores") or [], audience_only=True,
                                     points_budget=(spec.get("budget") or {}).get("points"),
                                     money_budget=(spec.get("budget") or {}).get("money"),
                                     per_member_limit=spec.get("per_member_limit")))
    elif row.type == "member_day":
        member_days(tx, row, now)


def member_days(tx: Tx, row: Any, now: datetime) -> None:
    """Bonus rules for the member days under way or starting within a day, in each store's zone;
    each occurrence once (its key is remembered, and points dedupes by it too)."""
    zones = StoreZones.from_env()
    spec = row.spec
    # the catalog's zone for each store it announced; STORE_TIMEZONES for the others
    named = {**zones.named, **stores_repo.zones(tx)}
    groups = rules.zone_groups(spec.get("stores") or [], named, zones.default)
    done = set(spec.get("occurrences") or [])
    fresh = []
    for occ in rules.member_day_occurrences(str(row.id), spec["recurrence"]["weekdays"], now, groups):
        start, end = max(occ.starts_at, row.starts_at), min(occ.ends_at, row.ends_at)
        if occ.key in done or end <= start:
            continue
        fresh.append(occ.key)
        tx.emit(CampaignBonusStarted(campaign_id=str(row.id), rule_key=occ.key, name=f"{row.name} {occ.key[-30:]}",
                                     starts_at=start, ends_at=end, multiplier=spec.get("multiplier"),
                                     points_per_sale=spec.get("points_per_sale"), stores=list(occ.stores),
                                     audience_only=True, points_budget=(spec.get("budget") or {}).get("points"),
                                     money_budget=(spec.get("budget") or {}).get("money"),
                                     per_member_limit=spec.get("per_member_limit")))
    if fresh:
        send_audience(tx, row)
        repo.set_spec(tx, row, {**spec, "occurrences": sorted(done | set(fresh))}, "timer",
                        "member day " + ", ".join(fresh))


def announcement_variables(tx: Tx, row: Any) -> dict[str, str | int]:
    """Template variables of an announcement: the campaign's name, and for coupon campaigns the
    coupon's value (notify's coupon templates need it)."""
    variables: dict[str, str | int] = {"campaign_name": row.name}
    if row.type in rules.COUPON_TYPES and row.spec.get("coupon_template_id"):
        variables.update(coupons.template_variables(tx, row.spec["coupon_template_id"]))
    return variables


def announce(tx: Tx, row: Any, now: datetime, only: list[str] | None = None) -> None:
    spec = row.spec
    members = repo.treated(tx, str(row.id))
    if only is not None:
        wanted = set(only)
        members = [m for m in members if str(m.member_id) in wanted]
    variables = announcement_variables(tx, row)
    for i in range(0, len(members), ANNOUNCE_CHUNK):
        tx.emit_many([CampaignAnnounced(campaign_id=str(row.id), member_id=str(m.member_id),
                                        channel=spec["channel"], template=spec["template"], variables=variables,
                                        store=m.store, announced_at=now)
                      for m in members[i:i + ANNOUNCE_CHUNK]])
