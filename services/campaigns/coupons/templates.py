"""Coupon templates: made by marketers, read by managers and auditors."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from contracts import paging
from contracts.coupons import CouponTemplate, PreviewRefusal, TemplatePreview, TemplatePreviewResult
from contracts.errors import InvalidInput, NotFound
from service_runtime.config import env_int
from service_runtime.db import Tx
from services.campaigns.coupons import domain, repo, scope
from services.campaigns.coupons.views import template_out

MAX_DISCOUNT_PERCENT = env_int("COUPON_MAX_DISCOUNT_PERCENT", 50)  # above it a percent coupon needs confirming


def _terms(template: CouponTemplate) -> dict[str, Any]:
    # kept as the share taken off, however given; the confirmation is a question, not a term
    return {**template.model_dump(mode="json", exclude={"percent", "price_percent", "confirm_high_discount"}),
            "discount_percent": None if template.off_percent() is None else str(template.off_percent())}


def create(tx: Tx, template: CouponTemplate, created_by: str | None) -> dict[str, Any]:
    terms = _terms(template)
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


def preview(tx: Tx, req: TemplatePreview) -> dict[str, Any]:
    """What a coupon of these (unsaved) terms takes off the basket, by the till's own arithmetic and
    the catalog's stores and categories; terms that do not hold together are a 422 naming the field.
    Validity dates are not needed for a preview."""
    template = req.template
    rules = repo.rules_of(_terms(template))
    dated = template.valid_days is not None or template.valid_from is not None or template.valid_until is not None
    problem = domain.template_problem(rules, template.valid_from, template.valid_until,
                                      template.valid_days if dated else 1, template.budget_value)
    if problem:
        raise InvalidInput(problem[1], "template." + problem[0])
    basket = req.basket
    try:
        off = domain.discount(rules, scope.basket(tx, basket, [rules]))
    except domain.Refusal as refused:
        refusal = PreviewRefusal(message=refused.message, field="basket." + refused.field)
        return TemplatePreviewResult(store=basket.store, amount=basket.amount, applies=False, discount=Decimal("0.00"),
                                     amount_due=basket.amount, refusal=refusal).model_dump(mode="json")
    return TemplatePreviewResult(store=basket.store, amount=basket.amount, applies=True, discount=off,
                                 amount_due=basket.amount - off, gift_sku=rules.gift_sku).model_dump(mode="json")
