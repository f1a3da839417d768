"""Webhooks on the real broker and database, delivering to local receivers that check signatures with
the reference verifier: a receiver down for seconds gets everything afterwards, in order per member,
each once; a refused event is retried, dead-lettered and listed, and the member's next one goes on;
a wrong secret is refused by the receiver; the operator replays from a cursor."""
from __future__ import annotations

import http.server
import threading
import time
import uuid

import pytest

from services.feed import delivery, domain
from tests.helpers import query, wait_for
from tests.service.feed_support import ADMIN, ERP, Receiver, accrued, head_cursor, publish, registered, start_feed, tier
from tests.service.notify_support import call


def _fast_retries(monkeypatch, attempts: int) -> None:
    for name, value in (("FEED_WEBHOOK_POLL_SECONDS", "0.1"), ("FEED_WEBHOOK_RETRY_INITIAL_SECONDS", "0.1"),
                        ("FEED_WEBHOOK_RETRY_MAX_SECONDS", "0.5"), ("FEED_WEBHOOK_MAX_ATTEMPTS", str(attempts))):
        monkeypatch.setenv(name, value)


def _subscribe(feed, receiver: Receiver, types: list[str], **extra) -> dict:
    created = call(feed, "create_webhook", caller=ERP, url=receiver.url, types=types, **extra)
    receiver.secret = receiver.secret or created["secret"]
    return created


def _by_member(items: list[dict]) -> dict[str, list[int]]:
    order: dict[str, list[int]] = {}
    for item in items:
        order.setdefault(item["member_id"], []).append(domain.decode_cursor(item["cursor"]))
    return order


def test_a_receiver_down_for_seconds_gets_everything_after_in_order_per_member_each_once(start_service, monkeypatch):
    _fast_retries(monkeypatch, attempts=3)  # an outage outlasts the tries: nothing is dead-lettered for it
    feed = start_feed(start_service)
    receiver = Receiver()
    try:
        hook = _subscribe(feed, receiver, ["points.accrued", "tier.changed"])
        assert hook["secret"].startswith("whsec_") and "secret" not in call(feed, "get_webhook", caller=ADMIN,
                                                                             webhook_id=hook["id"])
        members = [str(uuid.uuid4()) for _ in range(5)]
        sent = publish(*[registered(m) for m in members])  # not subscribed: never delivered
        sent = publish(*[accrued(m, n, n) for n in range(1, 4) for m in members])
        wait_for(lambda: len(receiver.items()) >= 15, timeout=90, message="the first 15 deliveries")
        receiver.stop()
        sent += publish(*[accrued(m, n, n) for n in range(4, 8) for m in members]) + publish(tier(members[0]))
        wait_for(lambda: query("feed", "SELECT 1 FROM webhook_deliveries WHERE status = 'pending' AND attempts >= 5 "
                               "AND webhook_id = :w", w=hook["id"]),
                 timeout=90, message="deliveries tried past their limit while the receiver is down")
        time.sleep(3)  # down for a few seconds more
        receiver.start()
        wait_for(lambda: len(receiver.items()) >= len(sent), timeout=60, message="every event after the outage")
        time.sleep(0.5)  # nothing more should come
        items = receiver.items()
        assert sorted(i["event_id"] for i in items) == sorted(sent)  # each once, nothing else
        for member, positions in _by_member(items).items():
            assert positions == sorted(positions), f"member {member} out of order"
        assert [i["data"]["points"] for i in items if i["member_id"] == members[3]] == list(range(1, 8))
        assert call(feed, "deliveries", caller=ADMIN, webhook_id=hook["id"], status="dead") == []
        assert call(feed, "get_webhook", caller=ADMIN, webhook_id=hook["id"])["pending"] == 0
    finally:
        receiver.stop()
        call(feed, "delete_webhook", caller=ADMIN, webhook_id=hook["id"])


def test_dead_letters_after_the_last_try_then_the_member_goes_on_and_replay_delivers_again(start_service,
                                                                                          monkeypatch):
    _fast_retries(monkeypatch, attempts=3)
    feed = start_feed(start_service)
    bad, good = str(uuid.uuid4()), str(uuid.uuid4())
    receiver = Receiver(refuse=lambda item: item["member_id"] == bad and item["data"]["points"] == 2)
    wrong = Receiver(secret="whsec_not-the-one-the-feed-holds")
    hook = _subscribe(feed, receiver, ["points.accrued"])
    forged = _subscribe(feed, wrong, ["points.accrued"])
    try:
        sent = publish(*[accrued(m, n, n) for n in (1, 2, 3) for m in (bad, good)])
        wait_for(lambda: len(receiver.items()) == 5, timeout=90, message="all but the refused one")
        mine = [i["data"]["points"] for i in receiver.items() if i["member_id"] == bad]
        assert mine == [1, 3]
        [dead] = wait_for(lambda: call(feed, "deliveries", caller=ADMIN, webhook_id=hook["id"], status="dead"),
                          timeout=90, message="the dead letter listed")
        assert (dead["member_id"], dead["attempts"], dead["last_error"]) == (bad, 3, "HTTP 500")
        after_it = [d for d in call(feed, "deliveries", caller=ADMIN, webhook_id=hook["id"], status="delivered")
                    if d["member_id"] == bad
                    and domain.decode_cursor(d["cursor"]) > domain.decode_cursor(dead["cursor"])]
        assert after_it and all(d["finished_at"] >= dead["finished_at"] for d in after_it)  # only after it died
        # the receiver holding another secret refuses every delivery: all dead, none accepted
        wait_for(lambda: len(call(feed, "deliveries", caller=ADMIN, webhook_id=forged["id"], status="dead")) == 6,
                 timeout=90, message="the forged deliveries dead")
        assert wrong.items() == [] and wrong.refused_signatures >= 6  # 3 tries each (a loaded box may drop one)
        assert "HTTP 401" in {d["last_error"] for d in call(feed, "deliveries", caller=ADMIN, webhook_id=forged["id"])}
        # fixed, the operator replays from the cursor before the dead one
        receiver.refuse = lambda item: False
        first = next(i for i in receiver.items() if i["member_id"] == bad)
        expected = [i["event_id"] for i in call(feed, "read", caller=ADMIN, after=first["cursor"], limit=100)["items"]
                    if i["event_id"] in set(sent)]
        call(feed, "replay", caller=ADMIN, webhook_id=hook["id"], after=first["cursor"])
        wait_for(lambda: len(receiver.items()) == 5 + len(expected), timeout=90, message="the replayed events")
        again = receiver.items()[5:]
        assert sorted(i["event_id"] for i in again) == sorted(expected)
        assert [i["data"]["points"] for i in again if i["member_id"] == bad] == [2, 3]
        assert {i["event_id"] for i in receiver.items()} == set(sent)
    finally:
        receiver.stop()
        wrong.stop()
        for created in (hook, forged):
            call(feed, "delete_webhook", caller=ADMIN, webhook_id=created["id"])


def test_subscriptions_refuse_bad_input_naming_the_field(start_service):
    feed = start_feed(start_service)
    for kwargs, field in (({"url": "ftp://x", "types": ["points.accrued"]}, "url"),
                          ({"url": "http://127.0.0.1:9/h", "types": ["nope.nothing"]}, "types"),
                          ({"url": "http://127.0.0.1:9/h", "types": []}, "types")):
        with pytest.raises(Exception) as refused:
            call(feed, "create_webhook", caller=ADMIN, **kwargs)
        assert getattr(refused.value, "field", None) == field


def test_a_replay_while_a_delivery_is_being_retried_keeps_the_member_in_order(start_service, monkeypatch):
    _fast_retries(monkeypatch, attempts=100)
    feed = start_feed(start_service)
    member, broken = str(uuid.uuid4()), {"on": True}
    receiver = Receiver(refuse=lambda item: broken["on"] and item["data"]["points"] == 1)
    start = head_cursor(feed)
    hook = _subscribe(feed, receiver, ["points.accrued"])
    try:
        sent = publish(*[accrued(member, n, n) for n in (1, 2, 3)])
        wait_for(lambda: query("feed", "SELECT 1 FROM webhook_deliveries WHERE webhook_id = :w AND attempts >= 2",
                               w=hook["id"]), timeout=90, message="the first event failing its tries")
        call(feed, "replay", caller=ADMIN, webhook_id=hook["id"], after=start)
        broken["on"] = False
        wait_for(lambda: {i["event_id"] for i in receiver.items()} == set(sent), timeout=90,
                 message="the member's events after the replay")
        time.sleep(1)  # a try of the superseded round still under way would land now
        points = [i["data"]["points"] for i in receiver.items()]
        assert points == sorted(points) and sorted(set(points)) == [1, 2, 3], points  # repeats, never reordered
        statuses = {d["status"] for d in call(feed, "deliveries", caller=ADMIN, webhook_id=hook["id"])}
        assert "superseded" in statuses and "dead" not in statuses
    finally:
        receiver.stop()
        call(feed, "delete_webhook", caller=ADMIN, webhook_id=hook["id"])


def _answering(status: int) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.mark.parametrize("status,away", [(500, False), (400, False), (401, False), (503, True), (429, True),
                                         (504, True)])
def test_a_refusal_is_told_from_a_receiver_that_is_away(status, away):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _answering(status))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/h"
    with pytest.raises(delivery.DeliveryFailed) as failed:
        delivery.post(url, "whsec_x", b"{}", {}, 5)
    assert (failed.value.unavailable, str(failed.value)) == (away, f"HTTP {status}")
    server.shutdown()
    server.server_close()
    with pytest.raises(delivery.DeliveryFailed) as unreachable:  # nobody listening any more
        delivery.post(url, "whsec_x", b"{}", {}, 5)
    assert unreachable.value.unavailable and str(unreachable.value).startswith("unreachable")
