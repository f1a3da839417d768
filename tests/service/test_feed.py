"""The feed service on the real broker and database: events from members and points land in one
order, read by cursor page after page with a type filter, personal fields blanked after erasure,
410 for a cursor the retention purge went past, and who may read it."""
from __future__ import annotations

import uuid

import pytest

from contracts.errors import Forbidden, Gone, InvalidInput
from services.feed import domain
from tests.helpers import query, wait_for
from tests.service.feed_support import (
    ADMIN,
    CLERK,
    ERP,
    POS,
    accrued,
    backdate,
    erased,
    head_cursor,
    publish,
    registered,
    start_feed,
    tier,
    updated,
)
from tests.service.notify_support import call


@pytest.fixture
def feed(start_service):
    return start_feed(start_service)


def _all(feed, after=None, types=None, limit=7, caller=ADMIN):
    """Every item after the cursor, page by page; and the cursor to resume from."""
    items, cursor = [], after
    while True:
        page = call(feed, "read", caller=caller, after=cursor, types=types, limit=limit)
        items += page["items"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items, cursor


def _wait_in_feed(feed, event_ids, after=None):
    wanted = set(event_ids)
    return wait_for(lambda: (found := _all(feed, after)[0]) and wanted <= {i["event_id"] for i in found} and found,
                    timeout=90, message=f"{len(wanted)} events in the feed")


def test_events_come_in_one_order_paged_filtered_and_resumable(feed):
    start = head_cursor(feed)
    members = [str(uuid.uuid4()) for _ in range(4)]
    ids = publish(*[registered(m) for m in members])
    ids += publish(*[accrued(m, 10 * n, 10 * n) for n in range(1, 4) for m in members])
    ids += publish(tier(members[0]))
    items = _wait_in_feed(feed, ids, start)
    mine = [i for i in items if i["event_id"] in set(ids)]
    assert len(mine) == len(ids) == len({i["event_id"] for i in mine})  # each once
    positions = [domain.decode_cursor(i["cursor"]) for i in items]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    by_member = [i["data"]["points"] for i in mine if i["type"] == "points.accrued" and i["member_id"] == members[1]]
    assert sorted(by_member) == [10, 20, 30]
    # the same walk with another page size and as an ERP key gives the same order
    assert [i["event_id"] for i in _all(feed, start, limit=3, caller=ERP)[0]] == [i["event_id"] for i in items]
    # a filter keeps the order and moves the cursor past what it leaves out
    tiers, end = _all(feed, start, types=["tier.changed"])
    assert [i["type"] for i in tiers] == ["tier.changed"] and tiers[0]["member_id"] == members[0]
    assert call(feed, "read", caller=ERP, after=end)["items"] == []
    # resumable: events after the cursor, and only those
    later = publish(accrued(members[2], 5, 65))
    resumed = _wait_in_feed(feed, later, end)
    assert [i["event_id"] for i in resumed] == later


def test_only_admins_erp_keys_and_services_read_and_bad_input_names_the_field(feed):
    for caller in (CLERK, POS, '{"kind":"member","id":"m","member_id":"m"}'):
        with pytest.raises(Forbidden):
            call(feed, "read", caller=caller)
    assert "items" in call(feed, "read")  # a service inside the platform (no caller)
    for kwargs, field in (({"after": "not-a-cursor"}, "after"), ({"types": ["coupon.nothing"]}, "types"),
                          ({"limit": 0}, "limit")):
        with pytest.raises(InvalidInput) as refused:
            call(feed, "read", caller=ADMIN, **kwargs)
        assert refused.value.field == field


def test_erasure_blanks_personal_fields_in_earlier_and_later_events(feed):
    member, other = str(uuid.uuid4()), str(uuid.uuid4())
    start = head_cursor(feed)
    ids = publish(registered(member, gender="male", tags=["vip"]), registered(other, gender="female"),
                  accrued(member, 30, 30))
    _wait_in_feed(feed, ids, start)
    gone = publish(erased(member))
    _wait_in_feed(feed, gone, start)
    late = publish(updated(member))  # a change still on its way when the erasure landed
    items = [i for i in _wait_in_feed(feed, late, start) if i["member_id"] in (member, other)]
    mine = {i["type"]: i["data"] for i in items if i["member_id"] == member}
    assert mine["member.registered"]["member_number"] is None and mine["member.registered"]["gender"] is None
    assert mine["member.registered"]["tags"] is None and mine["member.registered"]["registration_store"] == "SH-001"
    assert mine["member.updated"]["gender"] is None and mine["member.updated"]["birthday"] is None
    assert mine["points.accrued"]["points"] == 30  # accounting stays
    theirs = next(i["data"] for i in items if i["member_id"] == other)
    assert theirs["gender"] == "female" and theirs["member_number"]
    exported = call(feed, "export_member", member_id=member)["feed"]  # the privacy export: what the feed holds
    assert [i["type"] for i in exported] == [i["type"] for i in items if i["member_id"] == member]
    assert next(i for i in exported if i["type"] == "member.registered")["data"]["member_number"] is None


def test_a_cursor_the_retention_purge_went_past_is_gone(start_service, monkeypatch):
    monkeypatch.setenv("FEED_RETENTION_HOURS", "1")
    monkeypatch.setenv("FEED_PURGE_SECONDS", "0.2")
    feed = start_feed(start_service)
    start = head_cursor(feed)
    old = publish(*[accrued(str(uuid.uuid4()), 1, 1) for _ in range(3)])
    items = _wait_in_feed(feed, old, start)
    kept = publish(accrued(str(uuid.uuid4()), 2, 2))
    _wait_in_feed(feed, kept, start)
    positions = [domain.decode_cursor(i["cursor"]) for i in items]
    backdate(max(positions), hours=2)
    wait_for(lambda: not query("feed", "SELECT 1 FROM feed_events WHERE position <= :p", p=max(positions)),
             message="the old events purged")
    with pytest.raises(Gone) as gone:
        call(feed, "read", caller=ERP, after=start)
    assert gone.value.field == "after"
    # no cursor starts at the oldest event kept
    oldest = call(feed, "read", caller=ERP, limit=1)["items"][0]
    assert domain.decode_cursor(oldest["cursor"]) > max(positions)
    # the cursor of the last purged event still resumes: nothing after it was lost
    assert [i["event_id"] for i in call(feed, "read", caller=ERP, after=items[-1]["cursor"])["items"]] == kept
