"""An offline upload's items, each answered on its own: an item that fails validation, names a
store the caller may not post for, or carries an amount above the limits becomes that item's
result (its field named as in the request: ``items.4.amount``); the others are posted. Pure."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from contracts.errors import Forbidden, InvalidInput, ServiceError
from contracts.points import RefundItem, SaleItem, SaleResult
from services.points.limits import Limits

MAX_ITEMS = 1000
_WHOLE_ITEM_FIELDS = ("member_id", "member_number", "discounts", "amount")  # named by the models' own rules
Item = SaleItem | RefundItem
_ITEM: TypeAdapter[Item] = TypeAdapter(Annotated[SaleItem | RefundItem, Field(discriminator="kind")])
_ITEMS: TypeAdapter[list[Item]] = TypeAdapter(list[Annotated[SaleItem | RefundItem, Field(discriminator="kind")]])


def item_field(index: int, field: str | None) -> str:
    """A field of item ``index`` as the request names it."""
    return f"items.{index}" if not field else f"items.{index}.{field}"


def _validation_error(index: int, exc: ValidationError) -> InvalidInput:
    first = exc.errors()[0]
    # the discriminator's tag ("sale", "refund") is pydantic's, not a key of the request
    loc = [str(p) for p in first["loc"]]
    if loc and loc[0] in ("sale", "refund"):
        loc = loc[1:]
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc = ["kind"]
    if not loc:  # a rule on the whole item: the field its message names first
        loc = [next((f for f in _WHOLE_ITEM_FIELDS if f in first["msg"]), "")]
    return InvalidInput(first["msg"], item_field(index, ".".join(p for p in loc if p)))


def check_items(raw: Any, stores: tuple[str, ...] | None, limits: Limits
                ) -> tuple[list[tuple[int, Item]], dict[int, ServiceError]]:
    """(items to post with their index, refusals by index). The upload as a whole is refused
    only when it is not a list of 1 to 1000 items."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ITEMS:
        raise InvalidInput(f"a list of 1 to {MAX_ITEMS} items", "items")
    good: list[tuple[int, Item]] = []
    refused: dict[int, ServiceError] = {}
    try:  # one call for the whole upload (most are all valid); item by item to name what is not
        parsed: list[Item | None] = list(_ITEMS.validate_python(raw))
    except ValidationError:
        parsed = [None] * len(raw)
    for index, data in enumerate(raw):
        item = parsed[index]
        if item is None:
            try:
                item = _ITEM.validate_python(data)
            except ValidationError as exc:
                refused[index] = _validation_error(index, exc)
                continue
        if stores is not None and item.store not in stores:
            refused[index] = Forbidden(f"not allowed for store {item.store!r}", item_field(index, "store"))
            continue
        problem = limits.sale_problem(item) if isinstance(item, SaleItem) else limits.refund_problem(item)
        if problem:
            refused[index] = InvalidInput(problem[1], item_field(index, problem[0]))
            continue
        good.append((index, item))
    return good, refused


def answer(raw: list[Any], outcomes: dict[int, Any], refused: dict[int, ServiceError]) -> dict[str, Any]:
    """Each item's answer in upload order: its result, or its error with the field named as
    in the request; a BatchResult as JSON, built as such (a thousand models built only to be
    dumped cost more than the rest of the answer)."""
    results: list[dict[str, Any]] = []
    for i, data in enumerate(raw):
        outcome = outcomes[i]
        kind = "refund" if isinstance(data, dict) and data.get("kind") == "refund" else "sale"
        if isinstance(outcome, ServiceError):
            field = outcome.field if i in refused else item_field(i, outcome.field)
            error = {"code": outcome.code, "message": outcome.message, "field": field}
            results.append({"index": i, "kind": kind, "ok": False, "sale": None, "refund": None, "error": error})
        elif isinstance(outcome, SaleResult):
            results.append({"index": i, "kind": "sale", "ok": True, "sale": outcome.model_dump(mode="json"),
                            "refund": None, "error": None})
        else:
            results.append({"index": i, "kind": "refund", "ok": True, "sale": None,
                            "refund": outcome.model_dump(mode="json"), "error": None})
    failed = sum(1 for r in results if not r["ok"])
    return {"results": results, "accepted": len(results) - failed, "failed": failed}
