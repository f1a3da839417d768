"""Pure rules of the feed: which events it carries, whose member each concerns, which fields are
personal (blanked once the member is erased), and the opaque cursor."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from contracts.errors import InvalidInput

# (producer, type) of every event the feed carries: member, points, tier and coupon changes. Reminders
# (member.birthday, points.expiring) are not changes and stay out.
SOURCES: tuple[tuple[str, str], ...] = (
    ("members", "member.registered"), ("members", "members.imported"), ("members", "member.updated"),
    ("members", "member.consent_changed"), ("members", "member.merged"), ("members", "member.erased"),
    ("points", "points.accrued"), ("points", "points.redeemed"), ("points", "points.reversed"),
    ("points", "points.expired"), ("points", "points.adjusted"), ("points", "tier.changed"),
    ("campaigns", "coupon.issued"), ("campaigns", "coupon.redeemed"), ("campaigns", "coupon.restored"),
)
# a members.imported batch enters the feed as one member.registered per member
FEED_TYPES = tuple(sorted({t for _, t in SOURCES} - {"members.imported"}))

# fields that identify or describe the person; blanked (null) in every row of an erased member
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "member.registered": ("member_number", "gender", "birthday", "tags"),
    "member.updated": ("gender", "birthday", "tags"),
    "member.merged": ("merged_member_number",),
}

CURSOR_PREFIX = "f1."


def member_of(event_type: str, payload: dict[str, Any]) -> str | None:
    """The member an event concerns (a merge belongs to the member that survives it)."""
    if event_type == "member.merged":
        return str(payload["survivor_id"])
    member = payload.get("member_id")
    return None if member is None else str(member)


def scrub(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload without its personal fields (kept as null, so the shape stays the contract's)."""
    fields = PERSONAL_FIELDS.get(event_type, ())
    return {k: (None if k in fields else v) for k, v in payload.items()}


def order_key(member_id: str | None, position: int) -> str:
    """What webhook delivery keeps in order: a member's events one after another; an event of no
    member orders against nothing."""
    return member_id if member_id is not None else f"#{position}"


def encode_cursor(position: int) -> str:
    return CURSOR_PREFIX + base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, field: str = "after") -> int:
    """The position a cursor stands for; None or empty: before the first event."""
    if not cursor:
        return 0
    raw = cursor.removeprefix(CURSOR_PREFIX)
    try:
        if raw == cursor:
            raise ValueError
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        if not text.isdigit():
            raise ValueError
        return int(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput("not a cursor this feed gave out", field) from None


def check_types(types: list[str] | None, field: str = "types") -> list[str] | None:
    """The event types asked for (None: all of them); an unknown one is refused by name."""
    if not types:
        return None
    unknown = sorted(set(types) - set(FEED_TYPES))
    if unknown:
        raise InvalidInput(f"unknown event types {unknown}; the feed carries {list(FEED_TYPES)}", field)
    return sorted(set(types))
