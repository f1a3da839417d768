"""The delivery pipeline: one sender loop per channel (so a failing SMS provider never holds up email),
each claiming its channel's due messages, applying the marketing rules, rendering, and sending with
retries, a rate limit and a circuit breaker per provider. Every step lands in the delivery log."""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import eventlet
import sqlalchemy as sa
from nameko.exceptions import RemoteError, RpcTimeout
from nameko.extensions import DependencyProvider
from nameko.standalone.rpc import ClusterRpcClient
from prometheus_client import Counter, Gauge, Histogram
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from contracts import access
from contracts.notify import NotificationOutcome
from service_runtime import store_zones
from service_runtime.callers import signed_context
from service_runtime.config import StoreZones, env, env_int, settings_for
from service_runtime.db import Tx, make_engine
from services.notify import domain, repo, tables
from services.notify.channels import Channel, NoAddress, Outgoing, PermanentError, ProviderError, channel_from_env
from services.notify.recipients import PhoneHasher

log = logging.getLogger(__name__)

SENDER_CHANNELS = ("sms", "email", "push", "webhook", "wechat")

MESSAGES = Counter("loyalty_notify_messages_total", "Messages by channel, outcome and reason",
                   ["channel", "outcome", "reason"])
PROVIDER_LATENCY = Histogram("loyalty_notify_provider_seconds", "Provider call latency by channel and result",
                             ["channel", "result"],
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
DLQ_DEPTH = Gauge("loyalty_notify_dlq_depth", "Dead-lettered messages waiting for ops")
BREAKER_OPEN = Gauge("loyalty_notify_breaker_open", "1 while a provider's circuit breaker is open", ["channel"])


def _rate(name: str, default: str) -> tuple[float, float]:
    rate, _, burst = env(name, default).partition("/")
    return float(rate), float(burst or rate)


@dataclass(frozen=True)
class NotifyConfig:
    quiet_hours: domain.QuietHours | None
    quiet_kinds: frozenset[str]
    cap_per_day: int
    cap_per_week: int
    max_attempts: int
    retry_initial: float
    retry_max: float
    breaker_threshold: int
    breaker_cooldown: float
    rates: dict[str, tuple[float, float]]
    poll_seconds: float
    batch_size: int
    senders: int
    contact_timeout: float
    default_locale: str
    transactional_channels: tuple[str, ...]
    points_receipts: bool
    codes_per_hour: int
    zones: StoreZones

    @classmethod
    def from_env(cls) -> NotifyConfig:
        channels = tuple(c.strip() for c in env("NOTIFY_TRANSACTIONAL_CHANNELS", "sms").split(",") if c.strip())
        for channel in channels:
            domain.check_channel(channel)
        return cls(
            quiet_hours=domain.QuietHours.parse(env("NOTIFY_QUIET_HOURS", "21:00-08:00")),
            # besides marketing, greetings and reminders wait for the morning too (a code or a tier change does not)
            quiet_kinds=frozenset(k.strip() for k in env("NOTIFY_QUIET_HOURS_ALSO_FOR",
                                                         "birthday,points.expiring,ticket.changed").split(",")
                             if k.strip()),
            cap_per_day=env_int("NOTIFY_CAP_PER_DAY", 2),
            cap_per_week=env_int("NOTIFY_CAP_PER_WEEK", 5),
            max_attempts=max(1, env_int("NOTIFY_MAX_ATTEMPTS", 5)),
            retry_initial=float(env("NOTIFY_RETRY_INITIAL_SECONDS", "1")),
            retry_max=float(env("NOTIFY_RETRY_MAX_SECONDS", "30")),
            breaker_threshold=max(1, env_int("NOTIFY_BREAKER_THRESHOLD", 10)),
            breaker_cooldown=float(env("NOTIFY_BREAKER_COOLDOWN_SECONDS", "30")),
            rates={c: _rate(f"NOTIFY_{c.upper()}_RATE", "50/100") for c in SENDER_CHANNELS},
            poll_seconds=float(env("NOTIFY_POLL_SECONDS", "1")),
            batch_size=env_int("NOTIFY_BATCH_SIZE", 50),
            senders=max(1, env_int("NOTIFY_SENDERS_PER_CHANNEL", 4)),
            contact_timeout=float(env("NOTIFY_CONTACT_TIMEOUT_SECONDS", "5")),
            default_locale=domain.check_locale(env("NOTIFY_DEFAULT_LOCALE", "zh-CN")),
            transactional_channels=channels,
            points_receipts=env("NOTIFY_POINTS_RECEIPTS", "false").lower() in ("1", "true", "yes"),
            codes_per_hour=env_int("NOTIFY_CODES_PER_HOUR", 5),
            zones=StoreZones.from_env(),
        )


class ContactUnavailable(Exception):
    """members did not answer in time (or the broker failed): try the message again later."""


class BreakerOpen(Exception):
    """The channel's provider is failing; its messages wait instead of piling up attempts."""


class ContactBook:
    """members.contact over a standalone RPC client with a timeout (the in-service proxy has none).
    Calls are signed as notify, a service (members gives contacts to services only); one client per
    sender loop."""

    def __init__(self, amqp_uri: str, timeout: float) -> None:
        self.amqp_uri, self.timeout = amqp_uri, timeout
        self._runner: ClusterRpcClient | None = None
        self._client: Any = None
        self._context: dict[str, Any] = {}  # the client reads it at each call: re-signed before each

    def get(self, member_id: str) -> dict[str, Any] | None:
        try:
            self._context.update(signed_context("notify"))
            if self._client is None:
                self._runner = ClusterRpcClient(context_data=self._context, timeout=self.timeout, uri=self.amqp_uri)
                self._client = self._runner.start()
            result: dict[str, Any] = self._client.members.contact(member_id)
            return result
        except RemoteError as exc:
            if exc.exc_type == "NotFound":
                return None
            raise ContactUnavailable(f"members.contact: {exc.exc_type}") from None
        except (RpcTimeout, OSError, RuntimeError) as exc:
            self.close()  # a timed-out client may still get the late reply: start afresh
            raise ContactUnavailable(f"members.contact: {type(exc).__name__}") from None

    def close(self) -> None:
        runner, self._runner, self._client = self._runner, None, None
        if runner is not None:
            try:
                runner.stop()
            except Exception:  # noqa: BLE001 (closing a broken connection)
                log.debug("closing the contact client failed", exc_info=True)


class Pipeline:
    def __init__(self, engine: sa.Engine, config: NotifyConfig, channels: dict[str, Channel], amqp_uri: str,
                 phones: PhoneHasher) -> None:
        self.engine, self.config, self.channels, self.amqp_uri = engine, config, channels, amqp_uri
        self.phones = phones
        now = time.monotonic()
        self.breakers = {c: domain.Breaker(config.breaker_threshold, config.breaker_cooldown) for c in channels}
        self.buckets = {c: domain.TokenBucket(*config.rates.get(c, (0.0, 0.0)), now=now) for c in channels}
        self.wakeups = {c: threading.Event() for c in channels}
        self.running = True

    # -- plumbing -------------------------------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[Tx]:
        with self.engine.begin() as conn:
            yield Tx(conn, "notify")

    def wake(self, channel: str | None = None) -> None:
        for name, event in self.wakeups.items():
            if channel is None or name == channel:
                event.set()

    def run_channel(self, channel: str) -> None:
        """A channel's sender loop: work while there is due work, else wait for a wake-up or the poll.
        A claimed batch is sent by up to ``senders`` green threads, each with its own members client."""
        books = eventlet.queue.LightQueue()
        for _ in range(self.config.senders):
            books.put(ContactBook(self.amqp_uri, self.config.contact_timeout))
        pool = eventlet.GreenPool(self.config.senders)

        def one(row: Any) -> None:
            book = books.get()
            try:
                self.process(row, book)
            except Exception:  # noqa: BLE001 (left 'sending': picked up again after STUCK_SENDING)
                log.exception("sending message %s failed", row.id)
            finally:
                books.put(book)

        try:
            while self.running:
                try:
                    rows = self.claim(channel)
                except Exception:  # noqa: BLE001 (the loop must outlive a database blip)
                    log.exception("notify sender loop for %s failed; retrying", channel)
                    rows = []
                for row in rows:
                    pool.spawn_n(one, row)
                pool.waitall()
                if not rows:
                    self.wakeups[channel].wait(self.config.poll_seconds)
                    self.wakeups[channel].clear()
        finally:
            while not books.empty():
                books.get().close()

    def run_gauges(self) -> None:
        while self.running:
            try:
                with self.tx() as tx:
                    DLQ_DEPTH.set(repo.dlq_depth(tx))
            except Exception:  # noqa: BLE001
                log.warning("could not read the DLQ depth", exc_info=True)
            for channel, breaker in self.breakers.items():
                BREAKER_OPEN.labels(channel).set(1 if breaker.is_open else 0)
            time.sleep(max(self.config.poll_seconds, 1.0))

    def claim(self, channel: str) -> list[Any]:
        breaker = self.breakers[channel]
        if not breaker.allows(time.monotonic()):
            return []  # nothing claimed: the messages stay queued until the breaker lets one through
        with self.tx() as tx:
            return repo.claim_due(tx, channel, 1 if breaker.is_open else self.config.batch_size)

    # -- one message ------------------------------------------------------------------------------------
    def finish(self, row: Any, status: str, reason: str | None = None, **values: Any) -> None:
        """A final state: recorded, logged, counted and announced (notification.outcome)."""
        now = access.now()
        with self.tx() as tx:
            if status == "failed":
                values.setdefault("dead_at", now)
            repo.update(tx, row.id, status=status, reason=reason, **values)
            repo.log(tx, row.id, status, reason)
            tx.emit(NotificationOutcome(message_id=row.id, member_id=row.member_id, campaign_id=row.campaign_id,
                                        channel=row.channel, status=status, reason=reason, at=now))
        MESSAGES.labels(row.channel, status, reason or "").inc()

    def requeue(self, row: Any, at: datetime, step: str, detail: str | None) -> None:
        with self.tx() as tx:
            repo.update(tx, row.id, status="queued", not_before=at)
            repo.log(tx, row.id, step, detail)
        MESSAGES.labels(row.channel, step, (detail or "").split(" ")[0]).inc()

    def process(self, row: Any, contacts: ContactBook) -> None:
        with self.tx() as tx:
            if not repo.take(tx, row.id, row.updated_at):
                log.info("message %s was picked up again by another sender; leaving it", row.id)
                return None
        now = access.now()
        if row.member_id is None:  # a login code whose process died mid-send: never sent twice, nor late
            return self.finish(row, "failed", "interrupted")
        if row.marketing:
            with self.tx() as tx:
                allowed = repo.consented(tx, row.member_id, row.channel)
            if not allowed:
                return self.finish(row, "suppressed", "no_consent")
        try:
            contact = contacts.get(row.member_id)
        except ContactUnavailable as exc:
            return self.requeue(row, now + timedelta(seconds=self.config.retry_max), "waiting", str(exc))
        if contact is None:
            return self.finish(row, "suppressed", "unknown_member")
        if contact["status"] != "active":
            return self.finish(row, "suppressed", f"member_{contact['status']}")
        with self.tx() as tx:  # the catalog's zone for the store; STORE_TIMEZONES for one it never announced
            zone = store_zones.zone_of(tx, tables.store_zones, row.store or contact.get("registration_store"),
                                       self.config.zones)
        if (row.marketing or row.template in self.config.quiet_kinds) and self.config.quiet_hours:
            release = self.config.quiet_hours.release_at(now, zone)
            if release is not None:
                return self.requeue(row, release, "deferred", f"quiet_hours until {release.isoformat()}")
        if row.marketing:
            with self.tx() as tx:
                repo.lock_member(tx, row.member_id)
                today = repo.marketing_sent_since(tx, row.member_id, domain.day_start(now, zone), row.id)
                week = repo.marketing_sent_since(tx, row.member_id, domain.week_start(now, zone), row.id)
                capped = domain.over_cap(today, week, self.config.cap_per_day, self.config.cap_per_week)
                if not capped:  # counts for the caps from now on (unless it ends up failing)
                    repo.update(tx, row.id, sent_at=now)
            if capped:
                return self.finish(row, "suppressed", "cap")
        address = {"sms": contact.get("phone"), "email": contact.get("email")}.get(row.channel, row.member_id)
        if row.channel == "wechat":  # linked openids (the OA's only while followed), kept here, not in members
            with self.tx() as tx:
                address = repo.wechat_address(tx, row.member_id)
        if not address:
            return self.finish(row, "suppressed", "no_address")
        try:
            outgoing = self.render(row, contact.get("locale") or self.config.default_locale,
                                   {"name": contact.get("name"), **dict(row.variables or {})}, address)
        except _Unrenderable as exc:
            return self.finish(row, "failed", exc.reason, last_error=str(exc))
        self.deliver(row, outgoing)

    def render(self, row: Any, locale: str, variables: dict[str, Any], address: str) -> Outgoing:
        with self.tx() as tx:
            template = repo.find_template(tx, row.template, row.channel, locale)
        if template is None:
            raise _Unrenderable("no_template", f"no template {row.template} for {row.channel}")
        try:
            subject = domain.render(template.subject, variables) if template.subject else None
            body = domain.render(template.body, variables)
        except domain.MissingVariable as exc:
            raise _Unrenderable("missing_variable", f"template {row.template} needs {exc.name!r}") from None
        return Outgoing(message_id=row.id, channel=row.channel, to=address, body=body, subject=subject,
                        member_id=row.member_id, template=row.template, campaign_id=row.campaign_id,
                        variables=variables)

    def deliver(self, row: Any, outgoing: Outgoing) -> None:
        attempts = row.attempts

        def record(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            with self.tx() as tx:
                repo.update(tx, row.id, attempts=attempts + state.attempt_number, last_error=str(error))
                repo.log(tx, row.id, "retry", f"attempt {attempts + state.attempt_number}: {error}")
            MESSAGES.labels(row.channel, "retried", "provider_error").inc()

        try:
            provider_id, used = self.send(outgoing, before_sleep=record,
                                          attempts=max(1, self.config.max_attempts - attempts))
        except BreakerOpen:
            wait = timedelta(seconds=self.config.breaker_cooldown)
            return self.requeue(row, access.now() + wait, "waiting", "circuit_open")
        except NoAddress:
            return self.finish(row, "suppressed", "no_address")
        except (ProviderError, PermanentError) as exc:
            total = self.config.max_attempts if isinstance(exc, ProviderError) else attempts + 1
            return self.finish(row, "failed", "provider_error" if isinstance(exc, ProviderError) else "rejected",
                               attempts=max(total, attempts + 1), last_error=str(exc))
        self.finish(row, "sent", None, attempts=attempts + used, provider_message_id=provider_id, sent_at=access.now())

    def send(self, outgoing: Outgoing, *, attempts: int,
             before_sleep: Callable[[RetryCallState], None] | None = None) -> tuple[str, int]:
        """(provider message id, attempts used); retries provider errors with exponential backoff and
        jitter; raises the last error, or BreakerOpen when the provider's breaker opens."""
        channel = self.channels[outgoing.channel]
        breaker, bucket = self.breakers[outgoing.channel], self.buckets[outgoing.channel]
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential_jitter(multiplier=self.config.retry_initial, max=self.config.retry_max,
                                         jitter=self.config.retry_initial),
            retry=retry_if_exception_type(ProviderError), reraise=True, before_sleep=before_sleep,
        )
        for attempt in retrying:
            with attempt:
                if not breaker.allows(time.monotonic()):
                    raise BreakerOpen(outgoing.channel)
                while (pause := bucket.wait_time(time.monotonic())) > 0:
                    time.sleep(pause)
                started = time.perf_counter()
                try:
                    provider_id = channel.send(outgoing)
                except ProviderError:
                    PROVIDER_LATENCY.labels(outgoing.channel, "error").observe(time.perf_counter() - started)
                    breaker.failure(time.monotonic())
                    raise
                except PermanentError:
                    PROVIDER_LATENCY.labels(outgoing.channel, "rejected").observe(time.perf_counter() - started)
                    raise
                PROVIDER_LATENCY.labels(outgoing.channel, "ok").observe(time.perf_counter() - started)
                breaker.success()
                return provider_id, attempt.retry_state.attempt_number
        raise AssertionError("unreachable: tenacity reraises the last error")


class _Unrenderable(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Dispatcher(DependencyProvider):
    """``self.pipeline``: built once per process; its sender loops run as the container's managed threads."""

    def setup(self) -> None:
        settings = settings_for(self.container.service_name)
        self.config = NotifyConfig.from_env()
        self.engine = make_engine(settings.database_url, len(SENDER_CHANNELS) * (self.config.senders + 1) + 2)
        channels = {name: channel_from_env(name) for name in SENDER_CHANNELS}
        self.pipeline = Pipeline(self.engine, self.config, channels, settings.amqp_uri, PhoneHasher.from_env())

    def start(self) -> None:
        with self.pipeline.tx() as tx:
            repo.seed_templates(tx)
        for channel in SENDER_CHANNELS:
            self.container.spawn_managed_thread(functools.partial(self.pipeline.run_channel, channel),
                                                identifier=f"notify-sender-{channel}")
        self.container.spawn_managed_thread(self.pipeline.run_gauges, identifier="notify-gauges")

    def stop(self) -> None:
        self.pipeline.running = False
        self.pipeline.wake()

    def kill(self) -> None:
        self.stop()
        self.engine.dispose()

    def get_dependency(self, worker_ctx: Any) -> Pipeline:
        return self.pipeline
