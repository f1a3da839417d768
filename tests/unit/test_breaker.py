"""The gateway's circuit breaker and what counts as "a dependency is briefly away"."""
from __future__ import annotations

import logging

import psycopg2
import pytest
import sqlalchemy as sa

from service_runtime.faults import BurstLog, is_unavailable
from services.gateway.breaker import Breaker, CircuitOpen
from services.gateway.errors import remote_error_status
from services.gateway.rpc import RemoteError


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_failures_refuses_then_lets_one_probe_through():
    clock = Clock()
    breaker = Breaker("points", threshold=3, open_seconds=2.0, clock=clock)
    for _ in range(2):
        breaker.failed(breaker.before_call())
    assert breaker.before_call() is False  # still closed after two
    breaker.failed(False)
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.retry_after == 2
    clock.now += 2.5
    assert breaker.before_call() is True  # the half-open probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # only one probe at a time
    breaker.succeeded(True)
    assert breaker.before_call() is False and breaker.failures == 0


def test_a_failed_probe_opens_it_again_and_a_success_resets_the_count():
    clock = Clock()
    breaker = Breaker("members", threshold=2, open_seconds=1.0, clock=clock)
    breaker.failed(False)
    breaker.succeeded(False)
    breaker.failed(False)
    assert breaker.before_call() is False  # not two in a row
    breaker.failed(False)
    clock.now += 1.5
    probe = breaker.before_call()
    breaker.failed(probe)
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now += 1.5
    probe = breaker.before_call()
    breaker.released(probe)  # a cancelled probe lets the next call probe
    assert breaker.before_call() is True


@pytest.mark.parametrize("exc, expected", [
    (sa.exc.OperationalError("SELECT 1", {}, psycopg2.OperationalError("server closed the connection")), True),
    (psycopg2.OperationalError("could not connect"), True),
    (sa.exc.TimeoutError("QueuePool limit reached"), True),
    (ConnectionRefusedError(111, "refused"), True),
    (sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key")), False),
    (ValueError("bad"), False),
    (None, False),
])
def test_which_errors_mean_unavailable(exc, expected):
    assert is_unavailable(exc) is expected


def test_an_error_caused_by_an_outage_counts_as_one():
    try:
        try:
            raise psycopg2.OperationalError("server closed the connection")
        except psycopg2.OperationalError as inner:
            raise RuntimeError("Caught handled exception, but response already started.") from inner
    except RuntimeError as outer:
        assert is_unavailable(outer)


def test_service_unavailable_from_a_service_is_503_and_unknown_errors_stay_500():
    assert remote_error_status(RemoteError("ServiceUnavailable", "points cannot reach its database")) == (
        503, "service_unavailable")
    assert remote_error_status(RemoteError("OperationalError", "boom")) == (500, "internal_error")


def test_burst_log_keeps_one_traceback_and_counts_the_rest(caplog):
    burst = BurstLog(logging.getLogger("test.burst"), "database away", window=60)
    with caplog.at_level(logging.WARNING, logger="test.burst"):
        for _ in range(45):
            burst.failed(psycopg2.OperationalError("server closed the connection"))
    assert len(caplog.records) == 1 and caplog.records[0].exc_info is not None
