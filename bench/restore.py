"""Restore benchmark: back up and restore databases holding N members and 5N ledger rows.

    SCALE=small|medium|large python -m bench.restore   (members: 20,000 | 200,000 | 1,000,000)

Prints BENCH restore_1m_members_s (the restore time, scaled linearly to 1M members when SCALE is
smaller; the measured count is in the name's comment line), backup_mb and backup_s. Runs on its
own databases (prefix loyalty_bench_restore_), dropped at the end; no broker is touched.
"""
from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from service_runtime import backup, migrate
from service_runtime import config as cfg

COUNTS = {"small": 20_000, "medium": 200_000, "large": 1_000_000}
PREFIX = "loyalty_bench_restore_"


def _admin(sql: str) -> None:
    engine = sa.create_engine(cfg.pg_admin_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execute(sa.text(sql))
    engine.dispose()


def _drop(prefix: str) -> None:
    for service in cfg.DATABASES:
        _admin(f'DROP DATABASE IF EXISTS "{prefix}{service}" WITH (FORCE)')


def _fill(members: int) -> None:
    members_db = sa.create_engine(cfg.database_url("members"), poolclass=sa.pool.NullPool)
    with members_db.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO members (id, member_number, name, phone_bidx, channel) "
            "SELECT md5('m' || g)::uuid, 'M' || g, 'Member ' || g, md5('p' || g), 'pos' "
            "FROM generate_series(1, :n) g"), {"n": members})
    members_db.dispose()
    points_db = sa.create_engine(cfg.database_url("points"), poolclass=sa.pool.NullPool)
    with points_db.begin() as conn:
        conn.execute(sa.text("INSERT INTO accounts (member_id, balance) SELECT md5('m' || g)::uuid, 50 "
                             "FROM generate_series(1, :n) g"), {"n": members})
        conn.execute(sa.text("INSERT INTO ledger (member_id, kind, delta, store, reference) "
                             "SELECT md5('m' || (g % :n + 1))::uuid, 'earn', 10, 'SH-001', 'S' || g "
                             "FROM generate_series(1, :rows) g"), {"n": members, "rows": members * 5})
    points_db.dispose()


def main() -> None:
    scale = cfg.env("SCALE", "small")
    members = COUNTS[scale]
    os.environ["DB_NAME_PREFIX"] = PREFIX
    os.environ.setdefault("MEMBERS_ENCRYPTION_KEYS", "k1=" + base64.b64encode(os.urandom(32)).decode())
    os.environ.setdefault("MEMBERS_BLIND_INDEX_KEY", base64.b64encode(os.urandom(32)).decode())
    restored = PREFIX + "r_"
    _drop(PREFIX)
    _drop(restored)
    work = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    try:
        for service in cfg.DATABASES:
            _admin(f'CREATE DATABASE "{PREFIX}{service}"')
            migrate.upgrade(service, cfg.database_url(service))
        _fill(members)
        started = time.perf_counter()
        sizes = backup.create(work / "b")
        backup_s = time.perf_counter() - started
        started = time.perf_counter()
        backup.restore(work / "b", restored)
        restore_s = time.perf_counter() - started
        factor = 1_000_000 / members
        print(f"# {members} members, {members * 5} ledger rows (SCALE={scale}); restore {restore_s:.1f} s")
        print(f"BENCH restore_1m_members_s {restore_s * factor:.1f} s")
        print(f"BENCH backup_1m_members_s {backup_s * factor:.1f} s")
        print(f"BENCH backup_1m_members_mb {sum(sizes.values()) * factor / 2**20:.1f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _drop(PREFIX)
        _drop(restored)


if __name__ == "__main__":
    main()
