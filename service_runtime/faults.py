"""Which errors mean "a dependency is briefly away", and logging them once per burst.

Used by the services (to answer ``ServiceUnavailable`` instead of an unknown error) and by
the gateway (to answer 503 with Retry-After instead of 500).
"""
from __future__ import annotations

import logging
import threading
import time

import psycopg2
import sqlalchemy as sa

_DB_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, psycopg2.OperationalError,
    psycopg2.InterfaceError,
)


def _broker_errors() -> tuple[type[BaseException], ...]:
    try:
        import amqp.exceptions
        import kombu.exceptions
    except ImportError:  # the gateway image may lack them
        return ()
    return (kombu.exceptions.OperationalError, amqp.exceptions.ConnectionError)


_BROKER_ERRORS = _broker_errors()


def is_unavailable(exc: BaseException | None) -> bool:
    """True for errors a retry after a short wait can cure: a database or broker away, a
    connection lost, a pool exhausted, a statement chosen as a deadlock victim."""
    for _ in range(5):  # or caused one: "response already started" raised while auditing a write
        if exc is None:
            return False
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, _DB_ERRORS + _BROKER_ERRORS + (ConnectionError, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


class BurstLog:
    """Logs the first failure of a burst with its traceback, then one summary line per
    ``window`` seconds with the count, so an outage under load is not thousands of tracebacks."""

    def __init__(self, logger: logging.Logger, what: str, window: float = 10.0) -> None:
        self.logger, self.what, self.window = logger, what, window
        self._lock = threading.Lock()
        self._first = 0.0
        self._count = 0

    def failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            self._count += 1
            if self._first and now - self._first < self.window:
                return
            count, self._count, self._first = self._count, 0, now
        if count <= 1:
            self.logger.warning("%s: %s: %s", self.what, type(exc).__name__, exc, exc_info=exc)
        else:
            self.logger.warning("%s: %d times in the last %.0fs, latest %s: %s", self.what, count, self.window,
                                type(exc).__name__, exc)
