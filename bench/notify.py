"""Benchmark of the notify service: campaign announcements to consenting members, delivered to an HTTP
SMS provider stub, end to end (event published -> provider received).

    python -m bench.notify [SCALE=small|medium|large]      (300, 2,000 or 10,000 announcements)

Starts the platform as `make run` does (its own databases, vhost and ports) with the SMS channel on a
provider stub in this process, registers members and gives consent through the gateway (the consent
events reach notify over the broker), publishes campaign.announced events as the campaigns service
would, and reports delivered messages per second and the announce-to-provider latency. A second round
makes the provider fail the first attempt of every message, to show what retries cost.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import sqlalchemy as sa
from kombu import Connection, Exchange

from bench.platform import bench, percentile, running_platform
from contracts.campaigns import CampaignAnnounced

SCALES = {"small": 300, "medium": 2_000, "large": 10_000}
SECRET = "bench-provider-secret"


class Stub:
    def __init__(self) -> None:
        self.received: dict[str, float] = {}
        self.fail_first = False
        self.failed: set[str] = set()
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # one write per answer: headers and body in separate packets meet delayed ACKs
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                message_id = body["message_id"]
                with stub.lock:
                    fail = stub.fail_first and message_id not in stub.failed
                    if fail:
                        stub.failed.add(message_id)
                    else:
                        stub.received.setdefault(message_id, time.time())
                answer = b'{"error":"busy"}' if fail else json.dumps({"id": "p-" + message_id}).encode()
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def members(base: str, token: str, count: int) -> list[str]:
    ids = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for i in range(count):
            phone = f"136{uuid.uuid4().int % 10**8:08d}"
            created = client.post("/v1/members", json={"name": f"Bench {i}", "phone": phone,
                                                       "registration_store": "SH-001"})
            created.raise_for_status()
            member_id = created.json()["member"]["member_id"] if "member" in created.json() \
                else created.json()["member_id"]
            for channel in ("sms", "marketing"):
                client.put(f"/v1/members/{member_id}/consents/{channel}", headers={"If-Match": '"1"'},
                           json={"granted": True, "text_version": "1"}).raise_for_status()
            ids.append(member_id)
    return ids


def announce(amqp_uri: str, member_ids: list[str], campaign_id: str) -> dict[str, float]:
    sent_at = {}
    exchange = Exchange("campaigns.events", type="topic", durable=True)
    with Connection(amqp_uri) as conn:
        producer = conn.Producer(exchange=exchange, serializer="json")
        for member_id in member_ids:
            event = CampaignAnnounced(campaign_id=campaign_id, member_id=member_id, channel="sms",
                                      template="campaign.coupon_drop",
                                      variables={"campaign_name": "Bench", "coupon_value": "10.00"},
                                      announced_at=datetime.now(UTC))
            producer.publish(event.envelope().model_dump(mode="json"), routing_key="campaign.announced",
                             delivery_mode=2)
            sent_at[member_id] = time.time()
    return sent_at


def delivered(engine: sa.Engine, campaign_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(r.id, r.member_id) for r in conn.execute(sa.text(
            "SELECT id::text AS id, member_id::text AS member_id FROM messages "
            "WHERE campaign_id = :c AND status = 'sent'"), {"c": campaign_id})]


def round_(name: str, env: dict[str, str], stub: Stub, engine: sa.Engine, ids: list[str]) -> None:
    campaign_id = f"bench-{name}-{uuid.uuid4().hex[:6]}"
    started = time.time()
    sent_at = announce(env["AMQP_URI"], ids, campaign_id)
    deadline = time.time() + 600
    while time.time() < deadline:
        rows = delivered(engine, campaign_id)
        if len(rows) >= len(ids):
            break
        time.sleep(0.2)
    rows = delivered(engine, campaign_id)
    finished = max(stub.received.get(m, 0.0) for m, _ in rows) if rows else time.time()
    latencies = [(stub.received[m] - sent_at[member]) * 1000 for m, member in rows if m in stub.received]
    bench(f"notify_{name}_delivered_per_s", len(rows) / max(finished - started, 1e-6), "msg/s")
    if latencies:
        bench(f"notify_{name}_latency_p50_ms", percentile(latencies, 0.5), "ms")
        bench(f"notify_{name}_latency_p99_ms", percentile(latencies, 0.99), "ms")
    if len(rows) < len(ids):
        print(f"# only {len(rows)} of {len(ids)} delivered within the time limit")


def main() -> int:
    scale = os.environ.get("SCALE", "small")
    count = SCALES[scale]
    stub = Stub()
    os.environ.update({"NOTIFY_SMS_PROVIDER": "http", "NOTIFY_SMS_URL": stub.url, "NOTIFY_SMS_SECRET": SECRET,
                       "NOTIFY_QUIET_HOURS": "off", "NOTIFY_CAP_PER_DAY": "0", "NOTIFY_CAP_PER_WEEK": "0",
                       "NOTIFY_SMS_RATE": "100000/100000", "NOTIFY_RETRY_INITIAL_SECONDS": "0.05",
                       "NOTIFY_RETRY_MAX_SECONDS": "0.2", "NOTIFY_BREAKER_THRESHOLD": "1000000"})
    with running_platform("notify") as (base, token, env):
        print(f"# notify benchmark, SCALE={scale}: {count} announcements to consenting members, SMS to a stub")
        ids = members(base, token, count)
        engine = sa.create_engine(f"postgresql://postgres:postgres@127.0.0.1:5432/{env['DB_NAME_PREFIX']}notify",
                                  poolclass=sa.pool.NullPool)
        deadline = time.time() + 120
        while time.time() < deadline:
            with engine.connect() as conn:
                granted = conn.execute(sa.text("SELECT count(*) FROM consents WHERE granted")).scalar_one()
            if granted >= 2 * count:
                break
            time.sleep(0.5)
        round_("announce", env, stub, engine, ids)
        stub.fail_first = True
        round_("announce_retry_once", env, stub, engine, ids)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
