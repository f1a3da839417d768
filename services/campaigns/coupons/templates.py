"""Coupon templates: made by marketers, read by managers and auditors."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts import paging
from contracts.coupons import CouponTemplate
from contracts.errors import InvalidInput, NotFound
from service_runtime.config import env_int
from service_runtime.db import Tx
from services.campaigns.coupons import domain, repo
from services.campaigns.coupons.views import template_out

MAX_DISCOUNT_PERCENT = env_int("COUPON_MAX_DISCOUNT_PERCENT", 50)  # above it a percent coupon needs confirming


def create(tx: Tx, template: CouponTemplate, created_by: str | None) -> dict[str, Any]:
    # kept as the share taken off, however given; the confirmation is a question, not a term
    terms = {**template.model_dump(mode="json", exclude={"percent", "price_percent", "confirm_high_discount"}),
             "discount_percent": None if template.off_percent() is None else str(template.off_percent())}
    rules = repo.rules_of(terms)
    problem = domain.template_problem(rules, template.valid_from, template.valid_until, template.valid_days,
                                      template.budget_value) or domain.percent_problem(
        rules, template.budget_count, Decimal(MAX_DISCOUNT_PERCENT), template.confirm_high_discount,
        "price_percent" if template.price_percent is not None else "discount_percent")
    if problem:
        raise InvalidInput(problem[1], problem[0])
    return template_out(repo.add_template(tx, terms, domain.face_value(rules), created_by))


def get(tx: Tx, template_id: str) -> dict[str, Any]:
    row = repo.get_template(tx, template_id)
    if row is None:
        raise NotFound("no such coupon template", "template_id")
    return template_out(row)


def page(tx: Tx, limit: int, after: list[str] | None) -> dict[str, Any]:
    """A page of templates, newest first: {"items", "next"}."""
    limit = paging.check_limit(limit)
    start = paging.position(after, paging.TEMPLATE_POSITION)
    rows, more = paging.cut(repo.templates(tx, limit + 1, start),
                            limit, lambda r: [r.created_at.isoformat(), str(r.id)])
    return {"items": [template_out(r) for r in rows], "next": more}
