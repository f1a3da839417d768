"""Inbox retention: forget a processed event id once no copy of that event can come back.

Rows of the inbox (``service_runtime.tables``) older than ``INBOX_RETENTION_HOURS`` (168) are
deleted every ``INBOX_PURGE_SECONDS`` in batches of ``PURGE_BATCH``, replicas skipping each
other's rows; a retention below the outbox's is refused. Why 7 days, and every way a copy can
arrive again: docs/decisions/0003-outbox-and-inbox.md (inbox retention).
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
