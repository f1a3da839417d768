"""Campaigns moving by the calendar: by hand (change_status) or by the timer (tick)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from contracts.errors import Conflict, ServiceError
from service_runtime.db import Tx, WorkerDb
from services.campaigns.campaigns import launch, repo, rules
from services.campaigns.campaigns.views import campaign, campaign_out

log = logging.getLogger(__name__)


def change_status(tx: Tx, campaign_id: str, status: str, now: datetime, actor: str,
                  note: str | None) -> dict[str, Any]:
    """draft -> scheduled -> running <-> paused -> finished (scheduled -> draft to edit again);
    running is reached by the timer at starts_at, or at once if starts_at has passed."""
    row = campaign(tx, campaign_id, lock=True)
    if row.status == status:
        return campaign_out(row)  # a retry: nothing more to do
    rules.check_transition(row.status, status)
    if status == "running" and row.status == "scheduled" and row.starts_at > now:
        raise Conflict("it starts at starts_at (the timer starts it)", "status")
    if status in ("scheduled", "running") and row.ends_at <= now:
        raise Conflict("its end has passed", "ends_at")
    return campaign_out(launch.move(tx, row, status, now, actor, note))


def tick(db: WorkerDb, now: datetime, actor: str) -> dict[str, int]:
    """Start scheduled campaigns whose start came, finish those whose end came, open member days.
    Safe to run twice or in two processes at once: each campaign moves under its row lock and
    only from the state it was read in."""
    started = finished = failed = 0
    with db.transaction() as tx:
        due = [str(r.id) for r in repo.due(tx, now)]
    for campaign_id in due:
        try:
            with db.transaction() as tx:
                row = repo.get(tx, campaign_id, lock=True)
                if row.status in ("scheduled", "running", "paused") and row.ends_at <= now:
                    launch.move(tx, row, "finished", now, actor, "ended (timer)")
                    finished += 1
                elif row.status == "scheduled" and row.starts_at <= now:
                    launch.move(tx, row, "running", now, actor, "started (timer)")
                    started += 1
        except ServiceError as exc:  # e.g. its coupon template's budget is spent: the others still move
            failed += 1
            log.warning("campaign %s could not move on: %s", campaign_id, exc)
    with db.transaction() as tx:
        for row in repo.running_member_days(tx):
            launch.member_days(tx, repo.get(tx, str(row.id), lock=True), now)
    return {"started": started, "finished": finished, "failed": failed}
