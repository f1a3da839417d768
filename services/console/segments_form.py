"""A segment rule from the console's form: up to a few condition rows joined by all/any, each value
typed as the API expects it (numbers for counts and scores, strings for money, lists for in/has_any)."""
from __future__ import annotations

from typing import Any

ROWS = 4
# field -> value kind, as the API's segment rules define them (docs/api.md, "Segments and campaigns")
FIELDS = {"store": "text", "tier": "text", "tags": "text", "gender": "text", "age": "int", "birthday_month": "int",
          "channel": "text", "registered_at": "text", "days_since_last_purchase": "int", "purchase_count": "int",
          "spend": "text", "points_balance": "int", "rfm_group": "text", "rfm_r": "int", "rfm_f": "int",
          "rfm_m": "int", "abcd": "text", "lifecycle": "text"}
OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "has", "has_any", "has_all", "has_none",
       "is_null", "not_null")
LIST_OPS = ("in", "not_in", "between", "has_any", "has_all", "has_none")


def rule_from(form: dict[str, str]) -> dict[str, Any]:
    """{"all"|"any": [conditions]} from rows cond-N-field/op/value/window; a single row stands alone."""
    conditions = []
    for n in range(ROWS):
        field = form.get(f"cond-{n}-field", "").strip()
        if not field:
            continue
        op = form.get(f"cond-{n}-op", "eq").strip()
        condition: dict[str, Any] = {"field": field, "op": op}
        if op not in ("is_null", "not_null"):
            raw = form.get(f"cond-{n}-value", "").strip()
            kind = FIELDS.get(field, "text")
            condition["value"] = ([_typed(kind, part.strip()) for part in raw.split(",") if part.strip()]
                                  if op in LIST_OPS else _typed(kind, raw))
        window = form.get(f"cond-{n}-window", "").strip()
        if window:
            condition["window_days"] = _typed("int", window)
        conditions.append(condition)
    if len(conditions) == 1:
        return conditions[0]
    return {"any" if form.get("combine") == "any" else "all": conditions}


def _typed(kind: str, raw: str) -> Any:
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            return raw  # the API names the field of a value that is not a number
    return raw


def rows_of(rule: dict[str, Any]) -> list[dict[str, Any]]:
    """The form rows that show a rule again (after an error, the values as typed)."""
    conditions = rule.get("all") or rule.get("any") or ([rule] if "field" in rule else [])
    rows = []
    for condition in conditions[:ROWS]:
        value = condition.get("value", "")
        rows.append({"field": condition.get("field", ""), "op": condition.get("op", "eq"),
                     "value": ", ".join(str(v) for v in value) if isinstance(value, list) else str(value),
                     "window": condition.get("window_days", "")})
    return rows + [{"field": "", "op": "eq", "value": "", "window": ""}] * (ROWS - len(rows))
