"""Planning a campaign: its definition, and budgets never below what it has committed."""
from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from contracts.access import id_or_none, parse_id
from contracts.campaigns import Budget, CampaignBudgetChanged, CampaignIn
from contracts.errors import Conflict, InvalidInput, NotFound
from service_runtime.db import Tx, WorkerDb
from services.campaigns import read_model_repo
from services.campaigns.campaigns import repo, rules
from services.campaigns.campaigns.views import SPEC_FIELDS, campaign, campaign_out
from services.campaigns.coupons import interface as coupons
from services.campaigns.segments import repo as segments
from services.campaigns.segments.rules import parse_rule, required_fields


def create(db: WorkerDb, cmd: CampaignIn, actor: str) -> dict[str, Any]:
    data = cmd.model_dump(mode="json")
    rules.validate(cmd.model_dump())
    campaign_id = parse_id(cmd.campaign_id, "campaign_id") if cmd.campaign_id else str(uuid.uuid4())
    spec = {k: data[k] for k in SPEC_FIELDS}
    with db.transaction() as tx:
        segment = segments.get_segment(tx, parse_id(cmd.segment_id, "segment_id"))
        if segment is None:
            raise NotFound("no such segment", "segment_id")
        lapsed_fields = {"lifecycle", "lifecycle_class", "days_since_last_purchase"}
        if cmd.type == "win_back" and cmd.trigger_lifecycle is None and not lapsed_fields & required_fields(
                parse_rule(segment.rule)):
            raise InvalidInput("a win-back campaign is for lapsed members: its segment must require a lifecycle "
                               "or days_since_last_purchase condition, or the campaign a trigger_lifecycle",
                               "segment_id")
        check_money_budget(tx, cmd.type, spec)
        row, created = repo.add(tx, {
            "id": campaign_id, "name": cmd.name, "type": cmd.type, "segment_id": cmd.segment_id,
            "starts_at": cmd.starts_at, "ends_at": cmd.ends_at, "spec": spec, "control_share": cmd.control_share,
            "attribution_days": cmd.attribution_days}, actor)
    if not created and (row.name, row.type, row.spec) != (cmd.name, cmd.type, spec):
        raise Conflict("this campaign id exists with another definition", "campaign_id")
    return campaign_out(row)


def set_budget(tx: Tx, campaign_id: str, new: Budget, actor: str) -> dict[str, Any]:
    """New caps; never below what the campaign has committed (coupons issued to its audience)."""
    row = campaign(tx, campaign_id, lock=True)
    if row.status == "finished":
        raise Conflict("the campaign is finished", "status")
    given = committed(tx, row)
    rules.check_budget(new.model_dump(), given)
    check_money_budget(tx, row.type, {**row.spec, "budget": new.model_dump(mode="json")})
    row = repo.set_spec(tx, row, {**row.spec, "budget": new.model_dump(mode="json")}, actor, "budget changed")
    if row.type in rules.POINTS_TYPES and row.launched_at is not None:
        tx.emit(CampaignBudgetChanged(campaign_id=str(row.id), points_budget=new.points,
                                      money_budget=new.money, granted=int(given["points"])))
    return campaign_out(row)


def check_money_budget(tx: Tx, kind: str, spec: dict[str, Any]) -> None:
    """A coupon campaign's money budget counts each coupon's face value: a template without
    one (a percent coupon with no max_discount, a gift with no gift_value) cannot be budgeted
    by money (it would cap nothing)."""
    if kind not in rules.COUPON_TYPES or (spec.get("budget") or {}).get("money") is None:
        return
    template = spec.get("coupon_template_id")
    if template and id_or_none(template) and coupons.face_value(tx, template) <= 0:
        raise InvalidInput("the coupon template has no face value to count against a money budget (give it a "
                           "max_discount or gift_value, or budget by coupons)", "budget.money")


def committed(tx: Tx, row: Any) -> dict[str, Any]:
    """What the campaign has committed: coupons granted (queued jobs included) and their face
    value or the discount redeemed, whichever is more; for points campaigns the bonus points
    points reported granted (and their value)."""
    if row.launched_at is None:
        return {"coupons": 0, "money": 0, "points": 0}
    if row.type in rules.COUPON_TYPES:
        stats = coupons.campaign_coupon_stats(tx, str(row.id))
        given = repo.rewards_given(tx, str(row.id))
        face = coupons.face_value(tx, row.spec["coupon_template_id"])
        return {"coupons": given, "money": max(stats["discount"], given * face), "points": 0}
    bonus = read_model_repo.bonus_granted(tx, str(row.id)).values()
    return {"coupons": 0, "points": sum(p for p, _ in bonus), "money": sum((v for _, v in bonus), Decimal(0))}
