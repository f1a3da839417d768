"""The webhook sender: a loop that queues each subscription's new feed events and hands the oldest
pending delivery of each member to a pool of green threads. Each is POSTed, signed, and retried
with exponential backoff (tenacity) until it succeeds or its last try fails (dead: listed, and
replayable); only then does that member's next event go out. The same loop runs the feed's
retention purge."""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import eventlet
import sqlalchemy as sa
from nameko.extensions import DependencyProvider
from prometheus_client import Counter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from service_runtime.config import env, env_int, settings_for
from service_runtime.db import make_engine
from services.feed import queue, reading, signing

log = logging.getLogger(__name__)

DELIVERIES = Counter("loyalty_feed_webhook_tries_total", "Webhook delivery tries by outcome (delivered, retry, dead)",
                     ["outcome"])
PURGED = Counter("loyalty_feed_purged_total", "Feed events deleted after the retention window")


@dataclass(frozen=True)
class DeliveryConfig:
    retention_hours: int
    purge_seconds: float
    poll_seconds: float
    max_attempts: int
    retry_initial: float
    retry_max: float
    timeout: float
    concurrency: int
    per_webhook: int
    window: int

    @classmethod
    def from_env(cls) -> DeliveryConfig:
        return cls(
            retention_hours=max(1, env_int("FEED_RETENTION_HOURS", 168)),
            purge_seconds=float(env("FEED_PURGE_SECONDS", "600")),
            poll_seconds=float(env("FEED_WEBHOOK_POLL_SECONDS", "0.5")),
            max_attempts=max(1, env_int("FEED_WEBHOOK_MAX_ATTEMPTS", 10)),
            retry_initial=float(env("FEED_WEBHOOK_RETRY_INITIAL_SECONDS", "2")),
            retry_max=float(env("FEED_WEBHOOK_RETRY_MAX_SECONDS", "120")),
            timeout=float(env("FEED_WEBHOOK_TIMEOUT_SECONDS", "10")),
            concurrency=max(1, env_int("FEED_WEBHOOK_CONCURRENCY", 32)),
            per_webhook=max(1, env_int("FEED_WEBHOOK_CONCURRENCY_PER_WEBHOOK", 16)),
            window=max(1, env_int("FEED_WEBHOOK_WINDOW", 2000)),
        )


# answers that say the receiver is away, not that it refused this event: tried on without a limit
UNAVAILABLE = frozenset({408, 429, 502, 503, 504})


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx, or could not be reached (``unavailable``): try again later."""

    def __init__(self, message: str, unavailable: bool) -> None:
        super().__init__(message)
        self.unavailable = unavailable


class Superseded(Exception):
    """A replay or a deletion took the delivery over while it waited to be tried again."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer other than 2xx: the subscription's URL is what we sign for


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def post(url: str, secret: str, body: bytes, extra: dict[str, str], timeout: float) -> None:
    headers = {"Content-Type": "application/json", "User-Agent": "loyalty-feed/1", **extra,
               **signing.signed_headers(secret, int(time.time()), body)}  # signed afresh on every try
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(request, timeout=timeout) as answer:
            answer.read(4096)
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code}", exc.code in UNAVAILABLE) from None
    except (OSError, urllib.error.URLError) as exc:
        raise DeliveryFailed(f"unreachable: {exc}", True) from None


class Sender:
    def __init__(self, engine: sa.Engine, config: DeliveryConfig) -> None:
        self.engine, self.config = engine, config
        self.pool = eventlet.GreenPool(config.concurrency)
        self.busy: dict[str, set[int]] = {}  # webhook id -> deliveries being tried in this process
        self.threads: set[Any] = set()
        self.filled: dict[str, float] = {}  # webhook id -> when its queue may be filled next
        self.running = True
        self._wake = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stop at once: a delivery cut short keeps its lease, and is tried again once the lease ends."""
        self.running = False
        self.wake()
        for thread in list(self.threads):
            thread.kill()

    def run(self) -> None:
        while self.running:
            try:
                moved = self.tick()
            except Exception:  # the database may be away; the next pass catches up
                log.warning("webhook pass failed", exc_info=True)
                moved = False
            if not moved:
                self._wake.wait(self.config.poll_seconds)
                self._wake.clear()

    def tick(self) -> bool:
        moved = False
        with self.engine.connect() as conn:
            hooks = queue.active(conn)
        for hook in hooks:
            key = str(hook.id)
            if time.monotonic() >= self.filled.get(key, 0.0):  # new events wait at most a poll interval
                added = queue.fill(self.engine, key, self.config.window)
                self.filled[key] = 0.0 if added else time.monotonic() + self.config.poll_seconds
                moved = moved or added > 0
            busy = self.busy.setdefault(key, set())
            free = min(self.config.per_webhook - len(busy), self.pool.free())
            if free <= 0:
                continue
            lease = self.config.timeout + 30
            for delivery in queue.claim_heads(self.engine, hook, busy, free, lease):
                busy.add(delivery.id)
                thread = self.pool.spawn(self._deliver, hook, delivery)
                self.threads.add(thread)
                thread.link(self.threads.discard)
                moved = True
        return moved

    def _deliver(self, hook: Any, delivery: Any) -> None:
        try:
            self.deliver(hook, delivery)
        except Exception:  # the lease runs out and the delivery is tried again
            log.warning("webhook delivery %s failed unexpectedly", delivery.id, exc_info=True)
        finally:
            self.busy.get(str(hook.id), set()).discard(delivery.id)
            self.wake()  # the member's next event may go now

    def deliver(self, hook: Any, delivery: Any) -> None:
        if delivery.event_id is None:
            queue.finish(self.engine, delivery.id, "dead", "the event left the feed (retention) before delivery",
                         tried=False)
            DELIVERIES.labels("dead").inc()
            return
        item = reading.item(delivery)
        body = json.dumps(item, separators=(",", ":")).encode()
        extra = {"X-Loyalty-Event-Id": item["event_id"], "X-Loyalty-Delivery": str(delivery.id)}
        tries = stop_after_attempt(max(1, self.config.max_attempts - delivery.attempts))

        def give_up(state: RetryCallState) -> bool:
            """After the last try, unless the receiver is away: an outage dead-letters nothing."""
            error = state.outcome.exception() if state.outcome else None
            return tries(state) and not (isinstance(error, DeliveryFailed) and error.unavailable)

        retrying = Retrying(
            stop=give_up,
            wait=wait_exponential_jitter(multiplier=self.config.retry_initial, max=self.config.retry_max,
                                        jitter=min(1.0, self.config.retry_initial)),
            retry=retry_if_exception_type(DeliveryFailed), reraise=True,
            before_sleep=lambda state: self._failed_try(delivery.id, state))
        try:
            for attempt in retrying:
                with attempt:
                    post(hook.url, hook.secret, body, extra, self.config.timeout)
        except Superseded:
            queue.finish(self.engine, delivery.id, "superseded", None, tried=False)  # ends its lease only
            return
        except DeliveryFailed as exc:
            queue.finish(self.engine, delivery.id, "dead", str(exc))
            DELIVERIES.labels("dead").inc()
            log.warning("webhook %s: delivery %s dead after its last try: %s", hook.id, delivery.id, exc)
            return
        queue.finish(self.engine, delivery.id, "delivered", None)
        DELIVERIES.labels("delivered").inc()

    def _failed_try(self, delivery_id: int, state: RetryCallState) -> None:
        DELIVERIES.labels("retry").inc()
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if not queue.failed_try(self.engine, delivery_id, str(error), wait + self.config.timeout + 30):
            raise Superseded(delivery_id)

    def purge(self) -> None:
        while self.running:
            try:
                PURGED.inc(reading.purge(self.engine, self.config.retention_hours))
                queue.forget_finished(self.engine, self.config.retention_hours)
            except Exception:  # the database may be away; the next pass catches up
                log.warning("feed purge failed", exc_info=True)
            self._sleep(self.config.purge_seconds)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.running and time.monotonic() < deadline:
            eventlet.sleep(min(1.0, deadline - time.monotonic()))


class Deliveries(DependencyProvider):
    """``self.sender``: one per process; its loop and the purge run as the container's managed threads."""

    def setup(self) -> None:
        settings = settings_for(self.container.service_name)
        self.config = DeliveryConfig.from_env()
        self.engine = make_engine(settings.database_url, self.config.concurrency + 4)
        self.sender = Sender(self.engine, self.config)

    def start(self) -> None:
        self.container.spawn_managed_thread(self.sender.run, identifier="feed-webhooks")
        self.container.spawn_managed_thread(self.sender.purge, identifier="feed-purge")

    def stop(self) -> None:
        self.sender.stop()

    def kill(self) -> None:
        self.sender.stop()
        self.engine.dispose()

    def get_dependency(self, worker_ctx: Any) -> Sender:
        return self.sender
