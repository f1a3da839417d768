"""Notify's quiet hours in the zone the catalog gives a member's store (its store_zones read model,
fed by store.changed), not STORE_TIMEZONES' default."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from contracts.catalog import StoreChanged, StoreOut
from tests.helpers import query, wait_for
from tests.service.notify_support import call, deliver
from tests.service.test_notify_delivery import (
    ADMIN,
    announce,
    consent,
    final,
    messages,
    platform,  # noqa: F401 (the fixture)
)


def _announce_store(notify, code: str, zone: str) -> None:
    at = datetime.now(UTC)
    store = StoreOut(code=code, name="Harbour", time_zone=zone, currency="USD", version=1, source="manual",
                     last_synced_at=at, updated_at=at, opened_on=date(2020, 1, 1))
    deliver(notify, "on_store_changed", StoreChanged(change="created", store=store))


def _member_of(platform, store: str) -> str:  # noqa: F811 (the fixture's value)
    phone = f"+86139{uuid.uuid4().int % 10**8:08d}"
    return call(platform["members"], "register", name="Li Lei", phone=phone, registration_store=store,
                email=f"m{uuid.uuid4().hex[:8]}@example.test")["member"]["member_id"]


def test_quiet_hours_follow_the_catalogs_zone_for_the_members_store(platform):  # noqa: F811
    local = datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))
    spec = f"{(local - timedelta(minutes=1)).time().isoformat(timespec='seconds')}-" \
           f"{(local + timedelta(hours=1)).time().isoformat(timespec='seconds')}"  # now in New York only
    notify, smtp, _, _, _ = platform["start"](NOTIFY_QUIET_HOURS=spec)
    store = f"NY-{uuid.uuid4().hex[:6]}"
    _announce_store(notify, store, "America/New_York")
    assert query("notify", "SELECT time_zone FROM store_zones WHERE code = :c", c=store)[0][0] == "America/New_York"
    in_new_york, in_shanghai = _member_of(platform, store), _member_of(platform, "S1")
    for member_id in (in_new_york, in_shanghai):
        consent(notify, member_id, "email", True)
        consent(notify, member_id, "marketing", True)
    held, sent = announce(notify, in_new_york, channel="email"), announce(notify, in_shanghai, channel="email")

    [row] = messages(notify, campaign_id=held)
    wait_for(lambda: any(s["status"] == "deferred" and s["detail"].startswith("quiet_hours")
                         for s in call(notify, "message", row["message_id"], caller=ADMIN)["steps"]),
             message="the New York member's message waits for the window's end")
    [other] = final(notify, campaign_id=sent)
    assert other["status"] == "sent"  # in Shanghai the window is not now
