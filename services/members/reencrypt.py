"""Re-encrypt members' sensitive fields under the active key, so an old key can be retired.

    python -m services.members.reencrypt            # rewrite every value not under the active key
    python -m services.members.reencrypt --check    # only count them (exit 1 while any remain)

Runs against the members database with the members service's configuration
(MEMBERS_ENCRYPTION_KEYS listing the old and the new key, MEMBERS_ACTIVE_KEY_ID the new one),
while the platform runs: each batch locks its rows (FOR UPDATE SKIP LOCKED, so it never waits on
a member being edited) and rewrites them in one short transaction. The plaintext, the member's
version and updated_at stay as they are: only the ciphertext and its key id change. Safe to stop
and run again; when --check reports 0, the old key can be removed from MEMBERS_ENCRYPTION_KEYS.
"""
from __future__ import annotations

import argparse
import sys

import sqlalchemy as sa

from service_runtime.config import database_url
from services.members import tables
from services.members.crypto import FieldCipher

FIELDS = ("phone", "email", "id_number")


def _stale(cipher: FieldCipher) -> sa.ColumnElement[bool]:
    prefix = cipher.active + ":"
    members = tables.members
    return sa.or_(*(sa.and_(members.c[f"{f}_enc"].is_not(None), ~members.c[f"{f}_enc"].startswith(prefix,
                                                                                                 autoescape=True))
                    for f in FIELDS))


def count_stale(engine: sa.Engine, cipher: FieldCipher) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(tables.members).where(_stale(cipher)))
                   .scalar_one())


def reencrypt_batch(engine: sa.Engine, cipher: FieldCipher, batch: int) -> int:
    """Re-encrypt up to ``batch`` members holding a value under an old key; how many were rewritten."""
    members = tables.members
    columns = [members.c.id, *(members.c[f"{f}_enc"] for f in FIELDS)]
    with engine.begin() as conn:
        rows = conn.execute(sa.select(*columns).where(_stale(cipher)).order_by(members.c.id).limit(batch)
                            .with_for_update(skip_locked=True)).all()
        for row in rows:
            member_id = str(row.id)
            values = {}
            for field in FIELDS:
                stored = getattr(row, f"{field}_enc")
                if stored is not None and cipher.needs_rotation(stored):
                    values[f"{field}_enc"] = cipher.encrypt(cipher.decrypt(stored, member_id, field), member_id, field)
            conn.execute(members.update().where(members.c.id == row.id).values(**values))
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only count values under old keys")
    parser.add_argument("--batch", type=int, default=500, help="members per transaction (default 500)")
    args = parser.parse_args(argv)
    cipher = FieldCipher.from_env()
    engine = sa.create_engine(database_url("members"))
    try:
        if args.check:
            stale = count_stale(engine, cipher)
            print(f"members with values under an old key: {stale} (active key {cipher.active})")
            return 1 if stale else 0
        done = 0
        while count := reencrypt_batch(engine, cipher, max(1, args.batch)):
            done += count
            print(f"re-encrypted {done} members", flush=True)
        print(f"done: {done} members re-encrypted under {cipher.active}")
        return 0
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
