"""The points program in force at a time, and the bonus rules, cached per process for a moment;
and the use cases that read and change them."""
from __future__ import annotations

import bisect
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nameko.extensions import DependencyProvider

from contracts.errors import InvalidInput, NotFound
from contracts.points import BonusRule, BonusRuleOut, Program, ProgramVersion, SetProgram
from service_runtime.db import Tx, WorkerDb
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

    if TYPE_CHECKING:  # a service's attribute holds what get_dependency returns
        def __get__(self, instance: object, owner: type | None = None) -> Programs: ...

    def get_dependency(self, worker_ctx: Any) -> Programs:
        return self.programs


# -- use cases: program versions and bonus rules ------------------------------------------------
def version_of(row: Any) -> ProgramVersion:
    return ProgramVersion(version=row.version, effective_from=row.effective_from,
                          program=Program.model_validate(row.program), created_by=row.created_by,
                          created_at=row.created_at)


def current_version(db: WorkerDb, programs: Programs) -> ProgramVersion:
    with db.transaction() as tx:
        version, _ = programs.current(tx)
        row = next(r for r in repo.program_versions(tx) if r.version == version)
    return version_of(row)


def versions(db: WorkerDb, programs: Programs) -> list[ProgramVersion]:
    with db.transaction() as tx:
        programs.current(tx)  # seeds the default on first use
        return [version_of(r) for r in repo.program_versions(tx)]


def set_program(db: WorkerDb, programs: Programs, cmd: SetProgram, actor: str | None) -> ProgramVersion:
    """A new version from ``effective_from`` (now when not given), never in the past."""
    now = datetime.now(UTC)
    effective = cmd.effective_from or now
    if effective < now - timedelta(minutes=1):
        raise InvalidInput("not in the past: sales already recorded keep the rules they were evaluated by",
                           "effective_from")
    with db.transaction() as tx:
        programs.current(tx)
        row = repo.add_program(tx, cmd.program.model_dump(mode="json"), effective, actor)
    programs.invalidate()
    return version_of(row)


def bonus_of(row: Any, now: datetime) -> BonusRuleOut:
    rule = BonusRule.model_validate({**row.rule, "starts_at": row.starts_at, "ends_at": row.ends_at})
    return BonusRuleOut(**rule.model_dump(), rule_id=str(row.id), source=row.source,
                        active=row.starts_at <= now < row.ends_at, audience=row.audience)


def bonus_rules(db: WorkerDb, active_only: bool) -> list[BonusRuleOut]:
    now = datetime.now(UTC)
    with db.transaction() as tx:
        rows = repo.all_bonus_rules(tx)
    return [b for b in (bonus_of(r, now) for r in rows) if b.active or not active_only]


def create_bonus_rule(db: WorkerDb, programs: Programs, rule: BonusRule, actor: str | None) -> BonusRuleOut:
    with db.transaction() as tx:
        row = repo.add_bonus_rule(tx, rule.model_dump(mode="json"), rule.name, rule.starts_at, rule.ends_at, actor)
    programs.invalidate()
    return bonus_of(row, datetime.now(UTC))


def end_bonus_rule(db: WorkerDb, programs: Programs, rule_id: str) -> BonusRuleOut:
    with db.transaction() as tx:
        row = repo.end_bonus_rule(tx, rule_id, datetime.now(UTC))
    if row is None:
        raise NotFound("no such bonus rule", "rule_id")
    programs.invalidate()
    return bonus_of(row, datetime.now(UTC))
