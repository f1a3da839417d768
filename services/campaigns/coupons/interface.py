"""What the campaign side asks of the coupon side, inside the campaigns service.

Interface agreed between the two halves of the service (coupons; segments and campaigns):
the coupon package implements these; the campaign half calls them (coupon-drop, birthday and
win-back campaigns issue coupons, and campaign results count their redemptions).
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from contracts.access import parse_id
from contracts.errors import Conflict, InvalidInput, NotFound
from services.campaigns.coupons import catalog_repo, repo

SOURCES = ("staff", "birthday", "exchange", "campaign")


def issue_key(job_id: str, campaign_id: str | None, member_id: str, occurrence: int | None = None) -> str:
    """A campaign's nth coupon to a member is issued once, whichever job carries it; without a
    campaign, once per member per job."""
    if not campaign_id:
        return f"job:{job_id}:{member_id}"
    return f"campaign:{campaign_id}:{member_id}" + (f":{occurrence}" if occurrence and occurrence > 1 else "")


def start_issue_job(tx: Any, template_id: str, member_ids: Sequence[str], *, source: str,
                    campaign_id: str | None = None, occurrence: int | None = None) -> str:
    """Queue issuing one coupon of ``template_id`` to each member (a background job with
    progress; idempotent per (campaign_id, member, occurrence) when campaign_id is given: the
    campaign's ``occurrence``-th coupon to each of them, the first when None). Runs in the
    caller's transaction ``tx`` (a service_runtime.db.Tx); returns the job id. Raises
    contracts.errors.InvalidInput / NotFound / Conflict (budget) as the coupon side decides."""
    template_id = parse_id(template_id, "template_id", "a template id")
    if source not in SOURCES:
        raise InvalidInput(f"one of {', '.join(SOURCES)}", "source")
    members: dict[str, None] = {}
    for i, member in enumerate(member_ids):
        members[parse_id(member, f"member_ids.{i}", "a member id")] = None
    if not members:
        raise InvalidInput("at least one member", "member_ids")
    template = repo.get_template(tx, template_id)
    if template is None:
        raise NotFound("no such coupon template", "template_id")
    if template.budget_count is not None and template.issued_count >= template.budget_count:
        raise Conflict("the template's budget is used up", "budget_count")
    if (template.budget_value is not None and Decimal(template.face_value) > 0
            and Decimal(template.issued_value) + Decimal(template.face_value) > Decimal(template.budget_value)):
        raise Conflict("the template's budget is used up", "budget_value")
    return repo.add_job(tx, template_id, list(members), source, campaign_id, None, occurrence)


def first_job_of(tx: Any, campaign_id: str) -> tuple[str, str] | None:
    """(job id, template id) of the first issue job queued for ``campaign_id``, if any."""
    return repo.first_job_of(tx, campaign_id)


def campaign_coupon_stats(tx: Any, campaign_id: str) -> dict[str, Any]:
    """Coupons of one campaign: {"issued": int, "redeemed": int, "discount": Decimal (total
    discount granted), "by_store": {store: {"redeemed": int, "discount": Decimal}},
    "redeemed_members": set[str]} (members who redeemed one)."""
    issued, used = repo.campaign_stats(tx, campaign_id)
    by_store: dict[str, dict[str, Any]] = {}
    total = Decimal(0)
    for row in used:
        discount = Decimal(row.discount or 0)
        total += discount
        entry = by_store.setdefault(row.store, {"redeemed": 0, "discount": Decimal(0)})
        entry["redeemed"] += 1
        entry["discount"] += discount
    return {"issued": issued, "redeemed": len(used), "discount": total, "by_store": by_store,
            "redeemed_members": {str(r.member_id) for r in used if r.member_id is not None}}


def member_export(tx: Any, member_id: str) -> dict[str, list[dict[str, Any]]]:
    """The coupon side's part of a member's privacy export: their coupons (with codes and
    state) and their reward exchanges."""
    coupons = repo.member_coupons(tx, member_id, 100_000)
    return {
        "coupons": [{"coupon_id": str(r.id), "code": r.code, "template_id": str(r.template_id), "name": r.name,
                     "state": r.state, "campaign_id": None if r.campaign_id is None else str(r.campaign_id),
                     "valid_from": _iso(r.valid_from), "valid_until": _iso(r.valid_until),
                     "issued_at": _iso(r.issued_at)} for r in coupons],
        "reward_exchanges": [{"exchange_id": str(r.id), "item_id": str(r.item_id), "store": r.store,
                              "points": r.points, "state": r.state, "created_at": _iso(r.created_at)}
                             for r in catalog_repo.member_exchanges(tx, member_id)],
    }


def face_value(tx: Any, template_id: str) -> Decimal:
    """What one coupon of the template counts against a value budget (0 for an unknown template)."""
    row = repo.get_template(tx, template_id)
    return Decimal(0) if row is None else Decimal(row.face_value)


def template_variables(tx: Any, template_id: str) -> dict[str, str | int]:
    """What an announcement says about a template's coupon: ``coupon_value`` (the amount off, the
    percent, or the gift); empty for an unknown template."""
    row = repo.get_template(tx, template_id)
    if row is None:
        return {}
    terms = row.terms or {}
    if row.kind == "percent":
        off = repo.rules_of(terms).discount_percent or Decimal(0)
        value = f"{off.normalize():f}%"
    elif row.kind == "gift":
        value = str(terms.get("gift_sku") or row.name)
    else:
        value = f"{Decimal(str(terms.get('amount', 0))):.2f}"
    return {"coupon_value": value}


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()
