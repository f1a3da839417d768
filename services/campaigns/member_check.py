"""Is a member id a member? Asked before any coupon is issued to it: campaigns' read model of
members answers most ids; one RPC to members (``identify``, 1,000 ids at most) answers the rest,
such as a member registered a moment ago whose member.registered has not arrived yet."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import eventlet
import sqlalchemy as sa
from nameko.exceptions import RemoteError, UnknownService

from contracts.errors import ServiceUnavailable
from service_runtime.config import env_int
from service_runtime.db import Tx

MEMBERS_TIMEOUT = env_int("CAMPAIGNS_MEMBERS_TIMEOUT_SECONDS", 5)
ASK_AT_ONCE = 1000  # members.identify's limit
GONE = {"erased": "member_erased", "merged": "member_merged"}  # status -> why no coupon goes to it
UNKNOWN = "no_such_member"


def not_members(tx: Tx, members: Any, member_ids: Sequence[str]) -> dict[str, str]:
    """The ids that are not live members, each with why (no_such_member, member_erased,
    member_merged). Raises ServiceUnavailable (itself, not a subclass: the gateway maps errors by
    class name, to a 503) when members must be asked and does not answer."""
    known = {str(r.member_id): r.status for r in tx.execute(sa.text(
        "SELECT member_id, status FROM rm_members WHERE member_id = ANY(CAST(:ids AS uuid[]))"),
        {"ids": list(member_ids)})}
    out = {m: GONE[status] for m, status in known.items() if status in GONE}
    unknown = [m for m in dict.fromkeys(member_ids) if m not in known]
    for i in range(0, len(unknown), ASK_AT_ONCE):
        asked = unknown[i:i + ASK_AT_ONCE]
        found = {str(f["member_id"]): f.get("status") for f in _identify(members, asked)}
        for member_id in asked:
            status = found.get(member_id)
            if status is None:
                out[member_id] = UNKNOWN
            elif status in GONE:
                out[member_id] = GONE[status]
    return out


def _identify(members: Any, member_ids: list[str]) -> list[dict[str, Any]]:
    try:
        with eventlet.Timeout(MEMBERS_TIMEOUT):
            found: list[dict[str, Any]] = members.identify(member_ids=member_ids)
            return found
    except (eventlet.Timeout, UnknownService):
        raise ServiceUnavailable("the members service did not answer to confirm the member: retry",
                                 "member_id") from None
    except RemoteError as exc:
        raise ServiceUnavailable(f"the members service could not confirm the member: {exc.value}",
                                 "member_id") from None
