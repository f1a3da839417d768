"""The points program in force at a time, and the bonus rules, cached per process for a moment."""
from __future__ import annotations

import bisect
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from nameko.extensions import DependencyProvider

from contracts.points import BonusRule, Program
from service_runtime.db import Tx
from services.points import domain, repo

CACHE_SECONDS = 2.0
SEED_FROM = datetime(2000, 1, 1, tzinfo=UTC)


class Programs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = 0.0
        self._starts: list[datetime] = []
        self._versions: list[tuple[int, Program]] = []
        self._bonuses: list[domain.Bonus] = []
        self._budgeted: set[str] = set()

    def invalidate(self) -> None:
        self._loaded = 0.0

    def _refresh(self, tx: Tx) -> None:
        if time.monotonic() - self._loaded < CACHE_SECONDS:
            return
        rows = repo.program_versions(tx)
        if not rows:
            repo.seed_program(tx, Program().model_dump(mode="json"), SEED_FROM)
            rows = repo.program_versions(tx)
        rows = sorted(rows, key=lambda r: (r.effective_from, r.version))
        bonuses = [domain.Bonus(str(r.id), BonusRule.model_validate(r.rule), r.audience, r.source)
                   for r in repo.bonus_rules_since(tx, datetime.now(UTC) - timedelta(days=400))]
        budgeted = repo.budgeted_sources(tx)
        with self._lock:
            self._starts = [r.effective_from for r in rows]
            self._versions = [(r.version, Program.model_validate(r.program)) for r in rows]
            self._bonuses = bonuses
            self._budgeted = budgeted
            self._loaded = time.monotonic()

    def at(self, tx: Tx, when: datetime) -> tuple[int, Program]:
        """The version in force at ``when`` (the first one for anything earlier)."""
        self._refresh(tx)
        index = max(0, bisect.bisect_right(self._starts, when) - 1)
        return self._versions[index]

    def current(self, tx: Tx) -> tuple[int, Program]:
        return self.at(tx, datetime.now(UTC))

    def bonuses(self, tx: Tx) -> list[domain.Bonus]:
        self._refresh(tx)
        return self._bonuses

    def budgeted(self, tx: Tx) -> set[str]:
        """Sources (campaigns) whose bonus points have a budget."""
        self._refresh(tx)
        return self._budgeted


class ProgramProvider(DependencyProvider):
    def setup(self) -> None:
        self.programs = Programs()

    def get_dependency(self, worker_ctx: Any) -> Programs:
        return self.programs
