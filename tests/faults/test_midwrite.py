"""SIGKILL in the middle of a write, under till load: nothing lost, nothing applied twice.

The kill moments are read from PostgreSQL, not guessed from a clock: points is killed while its
outbox relay holds a claimed batch in an open transaction (the rows are committed by the sales
and marked published only in that transaction, which commits after the broker confirms them), and
a consumer is killed while its batch transaction (inbox claims plus read-model writes) is open,
after a pause that piled up a burst of events for it. The audit after each (tests.faults.audit)
checks every sale's event reached both consumers' inboxes and was applied once, and reports the
redeliveries the inboxes skipped.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from tests.faults.audit import fault, kill_when_seen, pid, rows
from tests.faults.nodes import available

pytestmark = pytest.mark.skipif(available() is not None, reason=str(available()))

RELAY_CLAIM = ["%UPDATE outbox SET published_at%"]  # outbox._CLAIM: the batch being published
BATCH = ["%INSERT INTO inbox%", "%rm\\_%", "%INSERT INTO messages%"]  # a consumer's batch transaction


def _unpublished(platform: dict[str, Any]) -> int:
    return int(rows(platform, "points", "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0])


def test_points_killed_while_its_relay_publishes(platform):
    def kill() -> dict[str, Any]:
        # claimed and not yet committed: the relay is publishing the batch and waiting for confirms
        during = kill_when_seen(platform, "points", RELAY_CLAIM, states=("idle in transaction",))
        # the killed transaction's marks are rolled back: what it held is unpublished again
        return {"killed_during": during, "unpublished_after_kill": _unpublished(platform)}

    figures = fault(platform, "relay_sigkill", kill, seconds_after=12.0)
    assert figures["killed_during"] != "not seen", figures
    assert figures["events_lost"] == 0 and figures["duplicates"] == 0, figures


def test_consumers_killed_mid_batch(platform):
    def kill() -> dict[str, Any]:
        paused = {name: pid(platform, name) for name in ("campaigns", "notify")}
        for process in paused.values():
            os.kill(process, signal.SIGSTOP)  # three seconds of sales pile up: a burst for each
        seen: dict[str, str] = {}
        try:
            time.sleep(3)
        finally:
            for name, process in paused.items():
                os.kill(process, signal.SIGCONT)
                seen[name] = kill_when_seen(platform, name, BATCH)
        return {f"{name}_killed_during": during for name, during in seen.items()}

    figures = fault(platform, "consumers_sigkill", kill, seconds_after=10.0)
    assert "not seen" not in (figures["campaigns_killed_during"], figures["notify_killed_during"]), figures
    assert figures["events_lost"] == 0 and figures["duplicates"] == 0, figures
