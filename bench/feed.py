"""Benchmark of the change feed and its webhooks, end to end on the platform as `make run` starts it.

    python -m bench.feed [SCALE=small|medium|large]

Publishes points.accrued events to the points exchange as the points outbox relay does (bundles of
100), waits until the feed service has them all, then:

    feed_ingest_events_per_s   events published -> all in the feed table (one ordered append per batch)
    feed_read_events_per_s     one ERP key reading the whole feed through GET /v1/feed, 1,000 a page
    webhook_delivered_per_s    tier.changed events to one subscription, signed, POSTed to a receiver in
                               this process that verifies each signature (one event per POST, a member's
                               events one after another, 16 at a time per subscription)
    noop_rpc_ceiling_per_s     the host's RPC ceiling in the same run (bench/points.py's measurement)
"""
from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from kombu import Connection

from bench.platform import bench, running_platform
from bench.points import Books, Cpu, rpc_ceiling
from contracts.events import PointsAccrued, TierChanged
from service_runtime.config import database_url
from services.feed import signing

SCALES = {"small": (20_000, 2_000), "medium": (100_000, 5_000), "large": (500_000, 20_000)}  # feed, webhook events
BUNDLE = 100


def publish(events: list[Any], exchange: str, uri: str) -> None:
    with Connection(uri) as conn:
        producer = conn.Producer(serializer="json")
        for start in range(0, len(events), BUNDLE):
            bundle = [e.envelope().model_dump(mode="json") for e in events[start:start + BUNDLE]]
            producer.publish(bundle, exchange=exchange, routing_key=events[start].TYPE, delivery_mode=2)


def feed_count(engine: sa.Engine, event_type: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM feed_events WHERE type = :t"), {"t": event_type})
                   .scalar_one())


def wait_count(engine: sa.Engine, event_type: str, count: int, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while feed_count(engine, event_type) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"the feed took in {feed_count(engine, event_type)} of {count} {event_type}")
        time.sleep(0.2)


class Receiver:
    """Verifies each delivery's signature as docs/feed.md tells integrators to; counts the good ones."""

    def __init__(self) -> None:
        self.secret = ""
        self.seen: set[str] = set()
        self.bad = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    signing.verify(receiver.secret, dict(self.headers), body, time.time())
                    status = 200
                except signing.SignatureError:
                    status = 401
                with receiver.lock:
                    if status == 200:
                        receiver.seen.add(json.loads(body)["event_id"])
                    else:
                        receiver.bad += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


def read_all(base: str, key: str) -> tuple[int, int]:
    """(items, pages) of the whole feed, one page after another as an ERP reads it."""
    items = pages = 0
    cursor: str | None = None
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as http:
        while True:
            answer = http.get("/v1/feed", params={"limit": 1000, **({"after": cursor} if cursor else {})})
            answer.raise_for_status()
            page = answer.json()
            items, pages, cursor = items + len(page["items"]), pages + 1, page["next_cursor"]
            if not page["has_more"]:
                return items, pages


def main() -> int:
    scale = os.environ.get("SCALE", "small")
    feed_events, hook_events = SCALES[scale]
    with running_platform("feed") as (base, token, env):
        admin = {"Authorization": f"Bearer {token}"}
        key = httpx.post(base + "/v1/api-keys", headers=admin, json={"name": "bench ERP", "kind": "erp"}).json()["key"]
        print(f"# feed benchmark, SCALE={scale}: {feed_events} points.accrued into the feed, {hook_events} "
              f"tier.changed to one webhook; {os.cpu_count()} cores, everything on this machine", flush=True)
        asyncio.run(rpc_ceiling(base, env, key, Cpu(Path(env["VAR_DIR"]), env["DB_NAME_PREFIX"]),
                                Books(), 8, till_key=False))
        engine = sa.create_engine(database_url("feed"), poolclass=sa.pool.NullPool)
        members = [str(uuid.uuid4()) for _ in range(max(1, feed_events // 10))]
        now = datetime.now(UTC)
        accrued = [PointsAccrued(member_id=members[i % len(members)], store="S-001", source="sale",
                                 reference=f"T-{i}", points=10, occurred_at=now, balance=10 * (i // len(members) + 1))
                   for i in range(feed_events)]
        started = time.perf_counter()
        publish(accrued, "points.events", env["AMQP_URI"])
        wait_count(engine, "points.accrued", feed_events)
        bench("feed_ingest_events_per_s", feed_events / (time.perf_counter() - started), "events/s")

        started = time.perf_counter()
        items, pages = read_all(base, key)
        elapsed = time.perf_counter() - started
        bench("feed_read_events_per_s", items / elapsed, "events/s")
        print(f"# read {items} events in {pages} pages of up to 1000 in {elapsed:.1f} s", flush=True)

        receiver = Receiver()
        created = httpx.post(base + "/v1/webhooks", headers={"X-API-Key": key},
                             json={"url": receiver.url, "types": ["tier.changed"]})
        created.raise_for_status()
        receiver.secret = created.json()["secret"]
        hook_members = members[:max(1, hook_events // 3)]
        tiers = [TierChanged(member_id=hook_members[i % len(hook_members)], old_tier="silver", new_tier="gold",
                             direction="up", reason="sale", changed_at=now) for i in range(hook_events)]
        started = time.perf_counter()
        publish(tiers, "points.events", env["AMQP_URI"])
        deadline = time.monotonic() + 1800
        while len(receiver.seen) < hook_events and time.monotonic() < deadline:
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        bench("webhook_delivered_per_s", len(receiver.seen) / elapsed, "deliveries/s")
        print(f"# {len(receiver.seen)} of {hook_events} tier.changed delivered ({len(hook_members)} members, 3 each "
              f"in order) in {elapsed:.1f} s from publishing; {receiver.bad} refused signatures", flush=True)
        receiver.server.shutdown()
        engine.dispose()
        return 0 if len(receiver.seen) == hook_events and receiver.bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
