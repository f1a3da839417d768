"""Seal every webhook secret under the active key: the plain ones written before sealing, and those
sealed under an older key (after a rotation). Idempotent; ``--check`` only counts what is left.

    FEED_SECRET_KEYS=k1=...,k2=... FEED_ACTIVE_KEY_ID=k2 python -m services.feed.reseal [--check]

The feed's migration 0002 runs it when the keys are set; when --check reports 0, an old key can go."""
from __future__ import annotations

import sys

import sqlalchemy as sa

from service_runtime.config import database_url
from services.feed.secretbox import SecretBox
from services.feed.tables import webhooks


def reseal(conn: sa.Connection, sealer: SecretBox, check: bool = False) -> int:
    """Rewrite each stale secret (locked row by row); answers how many were (or would be) rewritten."""
    done = 0
    for row in conn.execute(sa.select(webhooks.c.id, webhooks.c.secret).with_for_update()).all():
        if not sealer.stale(row.secret):
            continue
        done += 1
        if not check:
            plain = sealer.open(row.secret, str(row.id))
            conn.execute(webhooks.update().where(webhooks.c.id == row.id)
                         .values(secret=sealer.seal(plain, str(row.id))))
    return done


def main(argv: list[str]) -> int:
    engine = sa.create_engine(database_url("feed"))
    with engine.begin() as conn:
        count = reseal(conn, SecretBox.from_env(), check="--check" in argv)
    print(f"{count} webhook secrets {'left to seal' if '--check' in argv else 'sealed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
