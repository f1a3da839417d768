"""Inbox retention: forget a processed event id once no copy of that event can come back.

The inbox (``service_runtime.tables``) remembers (event id, handler) for every event a handler
processed, so a redelivered copy is skipped. A row deleted too early lets a late copy run its
handler twice; a row never deleted grows the table by every event forever (at 2,000 sales/s,
about 170 million rows a day per handler). So rows older than ``INBOX_RETENTION_HOURS`` are
deleted, and that window must stay longer than every way a copy can arrive again:

- a redelivery after a lost ack or a consumer restart: seconds to the length of a consumer
  outage, which the consumer-lag alert bounds to hours;
- the outbox relay publishing a batch again after a crash: seconds;
- an operator re-sending events from the outbox after a broker lost its data: at most
  ``OUTBOX_RETENTION_HOURS`` back (72 h), since older outbox rows are deleted;
- a dead-letter replay (``service_runtime.deadletters``): the replay tool refuses a message
  dead-lettered longer ago than the inbox retention less ``REPLAY_MARGIN_HOURS``.

Hence the default of 168 hours (7 days): over twice the outbox's 72, and it leaves operators
most of a week to replay dead letters. A setting below the outbox retention is refused.

The purge runs in every service process (replicas skip each other's rows: ``SKIP LOCKED``)
every ``INBOX_PURGE_SECONDS``, in batches of ``PURGE_BATCH`` rows, each its own short
transaction, through an index on ``received_at`` that ``bootstrap`` creates.
"""
from __future__ import annotations

import logging
import threading

import sqlalchemy as sa
from prometheus_client import Counter

log = logging.getLogger(__name__)

DEFAULT_RETENTION_HOURS = 168
REPLAY_MARGIN_HOURS = 24
PURGE_BATCH = 10_000

INBOX_PURGED = Counter("loyalty_inbox_purged_total", "Inbox rows deleted after the retention window", ["service"])

_PURGE = sa.text(
    "DELETE FROM inbox WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM inbox WHERE received_at < now() - make_interval(hours => :hours) "
    "LIMIT :batch FOR UPDATE SKIP LOCKED))")


def check_retention(inbox_hours: int, outbox_hours: int) -> int:
    """The inbox retention, refused when shorter than a window in which a copy can come back."""
    if inbox_hours < max(outbox_hours, REPLAY_MARGIN_HOURS * 2):
        raise ValueError(f"INBOX_RETENTION_HOURS={inbox_hours} must be at least OUTBOX_RETENTION_HOURS "
                         f"({outbox_hours}) and {REPLAY_MARGIN_HOURS * 2}: a redelivered event older than the "
                         "inbox's memory would be processed twice")
    return inbox_hours


def purge(engine: sa.Engine, retention_hours: int, batch: int = PURGE_BATCH) -> int:
    """Delete inbox rows older than the retention; returns how many."""
    total = 0
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(_PURGE, {"hours": retention_hours, "batch": batch}).rowcount
        total += deleted
        if deleted < batch:
            return total


def ensure_index(url: str) -> None:
    """The index the purge reads, built without blocking writers (run by bootstrap; a build that
    failed half way leaves an invalid index, which is rebuilt)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.execute(sa.text("SELECT to_regclass('inbox')")).scalar() is None:
                return  # a database without an inbox (the gateway's)
            valid = conn.execute(sa.text(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = 'inbox_received_at'")).scalar()
            if valid is False:
                conn.execute(sa.text("DROP INDEX CONCURRENTLY IF EXISTS inbox_received_at"))
            conn.execute(sa.text("CREATE INDEX CONCURRENTLY IF NOT EXISTS inbox_received_at ON inbox (received_at)"))
    finally:
        engine.dispose()


class InboxJanitor:
    """Purges one service's inbox now and then, for as long as the service runs."""

    def __init__(self, engine: sa.Engine, service: str, retention_hours: int, interval_seconds: float) -> None:
        self.engine, self.service = engine, service
        self.retention_hours, self.interval_seconds = retention_hours, interval_seconds
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                INBOX_PURGED.labels(self.service).inc(purge(self.engine, self.retention_hours))
            except Exception:  # the database may be away; the next pass catches up
                log.warning("inbox purge failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
