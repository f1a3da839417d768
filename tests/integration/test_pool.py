"""Connections are pinged only after sitting idle, and a dead idle one is replaced unseen."""
from __future__ import annotations

import time

import sqlalchemy as sa

from service_runtime import pool
from service_runtime.config import database_url


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_killed_while_idle_is_replaced_before_use(platform_env):
    engine = pool.create_engine(database_url("members"), pool_size=1, max_overflow=0, ping_after_idle=0.2)
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # in steady use: the same connection, no ping
        with sa.create_engine(database_url("members")).connect() as admin:
            assert admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
        time.sleep(0.3)
        second = _backend_pid(engine)  # idle past the limit: pinged, found dead, replaced
        assert second != first
    finally:
        engine.dispose()
