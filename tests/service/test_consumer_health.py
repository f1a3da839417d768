"""Liveness from the consumers, not the process: a service on the real broker is live and ready;
a consumer that stops coming round fails /healthz, and the watchdog ends the process."""
from __future__ import annotations

import json
import time

import pytest

from service_runtime import health
from tests.helpers import wait_for


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)


def _get(path: str) -> tuple[str, dict]:
    seen: list[str] = []
    body = health.wsgi(lambda environ, start: [b"metrics"])({"PATH_INFO": path}, lambda status, headers: seen.append(
        status))
    return seen[0], json.loads(b"".join(body))


def test_a_consuming_service_is_live_and_ready(members):
    wait_for(lambda: health.check()["ready"], timeout=30, message="consumers consuming")
    status, body = _get("/healthz")
    assert status == "200 OK" and body["live"] and body["consumers"] >= 1, body  # members: its RPC consumer
    status, body = _get("/readyz")
    assert status == "200 OK", body


def test_a_consumer_that_stops_coming_round_fails_liveness(members):
    wait_for(lambda: health.check()["ready"], timeout=30, message="consumers consuming")
    later = time.monotonic() + health.stale_seconds() + 1  # as if no consume loop had turned since
    assert health.check(now=later)["live"] is False
    assert health.check()["live"] is True


def test_the_watchdog_exits_when_a_consumer_is_stale(members, monkeypatch):
    wait_for(lambda: health.check()["ready"], timeout=30, message="consumers consuming")
    limit = health.stale_seconds() + 1
    monkeypatch.setenv("CONSUMER_WATCHDOG_SECONDS", str(limit))
    stuck = next(c for c in health._CONSUMERS if not c.should_stop)
    stuck._loyalty_alive_at -= limit  # its loop has not come round since (nothing yields before the checks)
    codes: list[int] = []

    class Exited(Exception):
        pass

    def exit_(code: int) -> None:
        codes.append(code)
        raise Exited

    with pytest.raises(Exited):
        health.watchdog(sleep=lambda seconds: None, exit_=exit_)
    assert codes == [health.WATCHDOG_EXIT_CODE]
    status, body = _get("/healthz")
    assert status == "503 Service Unavailable" and body["live"] is False, body


def test_without_consumers_nothing_is_live():
    assert health.stalest([], now=time.monotonic()) == 0.0
