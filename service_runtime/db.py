"""The database dependency provider: SQLAlchemy 2 Core on psycopg2, one pool per process.

Why the transaction is a block inside the method and not a worker hook: Nameko sends the
RPC reply (and acks an event) *before* it calls ``worker_result``, so a commit there could
come after the caller was told "done", and a failed commit would go unreported. A service
method therefore writes inside ``with self.db.transaction() as tx:``, which commits when
the block ends, before the reply; anything left open is rolled back in
``worker_teardown``. Nested ``transaction()`` blocks join the outer one.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from nameko.extensions import DependencyProvider

from contracts.envelope import Envelope, EventPayload, TraceContext
from service_runtime import pool
from service_runtime.bulk import insert_rows
from service_runtime.config import settings_for
from service_runtime.tables import runtime_metadata
from service_runtime.topology import event_exchange
from service_runtime.tracing import inject_current

log = logging.getLogger(__name__)

_RUNTIME = runtime_metadata()
OUTBOX = _RUNTIME.tables["outbox"]
INBOX = _RUNTIME.tables["inbox"]
# one text for every batch size: a multi-row insert() compiled anew per batch was 50-70% of a
# consumer's CPU during uploads (docs/decisions/0028-set-based-consumers.md)
_CLAIM = sa.text(
    "INSERT INTO inbox (event_id, handler, event_type) "
    "SELECT e.id, :handler, e.type FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS e(id, type) "
    "ON CONFLICT DO NOTHING RETURNING event_id")


_PAYLOAD = {"payload"}


def make_engine(url: str, pool_size: int) -> sa.Engine:
    return pool.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        pool_timeout=30,
        hide_parameters=True,  # error texts travel to logs and RPC replies: never with personal data in them
    )


class Tx:
    """One open transaction: run statements, emit events through the outbox, claim inbox ids."""

    def __init__(self, conn: sa.Connection, service: str) -> None:
        self.conn = conn
        self.service = service
        self.emitted: list[Envelope] = []

    def execute(self, statement: Any, params: Any = None) -> sa.CursorResult[Any]:
        return self.conn.execute(statement, params)

    def emit(self, payload: EventPayload) -> Envelope:
        """Record an event in the outbox; it is published after (and only if) this commits."""
        trace = TraceContext(**inject_current())
        envelope = payload.envelope(trace)
        if envelope.producer != self.service:
            raise ValueError(f"{self.service} cannot emit {envelope.type}, produced by {envelope.producer}")
        headers = {f"nameko.{k}": v for k, v in trace.model_dump(exclude_none=True).items()}
        self.conn.execute(
            OUTBOX.insert().values(
                event_id=str(envelope.event_id),
                event_type=envelope.type,
                exchange=event_exchange(envelope.producer).name,
                body=envelope.model_dump(mode="json"),
                headers=headers,
            )
        )
        self.emitted.append(envelope)
        return envelope

    def emit_many(self, payloads: list[EventPayload]) -> None:
        """Record many events in one statement (bulk operations)."""
        if not payloads:
            return
        trace = TraceContext(**inject_current())
        headers = {f"nameko.{k}": v for k, v in trace.model_dump(exclude_none=True).items()}
        envelopes = [payload.envelope(trace) for payload in payloads]
        foreign = {e.type for e in envelopes if e.producer != self.service}
        if foreign:
            raise ValueError(f"{self.service} cannot emit {sorted(foreign)}")
        exchange = event_exchange(self.service).name
        # the payload is JSON already (envelope() dumped it): dumping it again was a third of this
        insert_rows(self, OUTBOX, [{"event_id": str(e.event_id), "event_type": e.type, "exchange": exchange,
                                    "body": {**e.model_dump(mode="json", exclude=_PAYLOAD), "payload": e.payload},
                                    "headers": headers} for e in envelopes])
        self.emitted.extend(envelopes)

    def claim_inbox(self, envelope: Envelope, handler: str) -> bool:
        """True the first time this handler sees this event id; False for any redelivery."""
        return self.claim_inbox_many([envelope], handler) != set()

    def claim_inbox_many(self, envelopes: list[Envelope], handler: str) -> set[str]:
        """The event ids (as strings) this handler sees for the first time, in one statement."""
        if not envelopes:
            return set()
        types = {str(e.event_id): e.type for e in envelopes}
        result = self.conn.execute(_CLAIM, {"handler": handler, "ids": list(types), "types": list(types.values())})
        return {str(event_id) for event_id in result.scalars()}


class _ReadTx(Tx):
    """A Tx for reads alone: an event emitted here would be published with no transaction behind it."""

    def emit(self, payload: EventPayload) -> Envelope:
        raise RuntimeError("emit inside db.transaction(), not db.read()")

    def emit_many(self, payloads: list[EventPayload]) -> None:
        raise RuntimeError("emit inside db.transaction(), not db.read()")


class WorkerDb:
    """What a worker sees as ``self.db``."""

    def __init__(self, provider: "Database") -> None:
        self._provider = provider
        self._tx: Tx | None = None
        self._conn: sa.Connection | None = None

    @property
    def engine(self) -> sa.Engine:
        return self._provider.engine

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        if self._tx is not None:
            yield self._tx
            return
        conn = self.engine.connect()
        self._conn = conn
        trans = conn.begin()
        tx = Tx(conn, self._provider.service_name)
        self._tx = tx
        try:
            yield tx
            trans.commit()
        except BaseException:
            trans.rollback()
            raise
        finally:
            self._tx = None
            self._conn = None
            conn.close()
        if tx.emitted:
            self._provider.notify_emitted()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """Reads that need no transaction around them: autocommit, each statement its own snapshot,
        so no BEGIN and COMMIT round trips to PostgreSQL (a till's look-up: two of its three).
        Inside an open transaction it joins that one. Nothing may be written or emitted here."""
        if self._tx is not None:
            yield self._tx
            return
        conn = self.engine.connect()
        # psycopg2's own switch, set on the client alone; SQLAlchemy's isolation_level option would
        # send a SET back to the server on every return to the pool, one round trip again
        raw: Any = conn.connection.dbapi_connection
        raw.autocommit = True
        try:
            yield _ReadTx(conn, self._provider.service_name)
        finally:
            try:
                if not raw.closed:
                    raw.autocommit = False
            finally:
                conn.close()

    def release(self) -> None:
        """Roll back and return anything a worker left open (called at worker teardown)."""
        if self._conn is not None:
            log.warning("rolling back a transaction the worker left open")
            try:
                self._conn.close()
            finally:
                self._conn = None
                self._tx = None


class Database(DependencyProvider):
    """Engine per process, a ``WorkerDb`` per worker, and the outbox relay for the process."""

    def setup(self) -> None:
        from service_runtime.inbox import InboxJanitor
        from service_runtime.outbox import OutboxRelay

        self.service_name = self.container.service_name
        settings = self.settings = settings_for(self.service_name)
        self.engine = make_engine(settings.database_url, settings.db_pool_size)
        self.relay = OutboxRelay(self.engine, settings) if settings.outbox_relay else None
        self.janitor = InboxJanitor(self.engine, self.service_name, settings.inbox_retention_hours,
                                    settings.inbox_purge_seconds)
        self._workers: dict[object, WorkerDb] = {}

    def start(self) -> None:
        if self.relay is not None:
            self.container.spawn_managed_thread(self.relay.run, identifier="outbox-relay")
        self.container.spawn_managed_thread(self.janitor.run, identifier="inbox-janitor")

    def stop(self) -> None:
        self.janitor.stop()
        if self.relay is not None:
            self.relay.stop()
        self.engine.dispose()

    def kill(self) -> None:
        self.stop()

    def notify_emitted(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    if TYPE_CHECKING:  # a service's attribute holds what get_dependency returns
        def __get__(self, instance: object, owner: type | None = None) -> WorkerDb: ...

    def get_dependency(self, worker_ctx: Any) -> WorkerDb:
        db = WorkerDb(self)
        self._workers[worker_ctx] = db
        return db

    def worker_teardown(self, worker_ctx: Any) -> None:
        db = self._workers.pop(worker_ctx, None)
        if db is not None:
            db.release()
