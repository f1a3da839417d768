"""Program versions and bonus rules."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from service_runtime.db import Tx
from services.points.tables import (
    bonus_rules,
    programs,
)


def program_versions(tx: Tx) -> list[Any]:
    return list(tx.execute(sa.select(programs).order_by(programs.c.version)).all())


def add_program(tx: Tx, program: dict[str, Any], effective_from: datetime, created_by: str | None) -> Any:
    tx.execute(sa.text("LOCK TABLE programs IN SHARE ROW EXCLUSIVE MODE"))
    version = int(tx.execute(sa.select(sa.func.coalesce(sa.func.max(programs.c.version), 0))).scalar_one()) + 1
    return tx.execute(programs.insert().values(version=version, effective_from=effective_from, program=program,
                                               created_by=created_by).returning(*programs.c)).one()


def seed_program(tx: Tx, program: dict[str, Any], effective_from: datetime) -> None:
    tx.execute(pg_insert(programs).values(version=1, effective_from=effective_from, program=program,
                                          created_by="default").on_conflict_do_nothing())


def bonus_rules_since(tx: Tx, since: datetime) -> list[Any]:
    return list(tx.execute(sa.select(bonus_rules).where(bonus_rules.c.ends_at > since)
                           .order_by(bonus_rules.c.starts_at)).all())


def all_bonus_rules(tx: Tx) -> list[Any]:
    return list(tx.execute(sa.select(bonus_rules).order_by(bonus_rules.c.starts_at.desc())).all())


def add_bonus_rule(tx: Tx, rule: dict[str, Any], name: str, starts_at: datetime, ends_at: datetime,
                   created_by: str | None, source: str = "api", rule_id: str | None = None,
                   audience: str | None = None) -> Any:
    """A new rule; with ``rule_id`` given, an existing rule of that id is kept as it is."""
    rule_id = rule_id or str(uuid.uuid4())
    tx.execute(pg_insert(bonus_rules).values(id=rule_id, name=name, starts_at=starts_at, ends_at=ends_at, rule=rule,
                                             source=source, created_by=created_by, audience=audience)
               .on_conflict_do_nothing())
    return tx.execute(sa.select(bonus_rules).where(bonus_rules.c.id == rule_id)).one()


def end_bonus_rules_of(tx: Tx, source: str, now: datetime) -> None:
    """End a source's rules now; those not started yet are withdrawn."""
    tx.execute(bonus_rules.delete().where(bonus_rules.c.source == source, bonus_rules.c.starts_at >= now))
    tx.execute(bonus_rules.update().where(bonus_rules.c.source == source, bonus_rules.c.ends_at > now)
               .values(ends_at=now))


def end_bonus_rule(tx: Tx, rule_id: str, now: datetime) -> Any | None:
    return tx.execute(bonus_rules.update().where(bonus_rules.c.id == rule_id).values(
        ends_at=sa.func.least(bonus_rules.c.ends_at, now)).returning(*bonus_rules.c)).first()
