"""Direct reads of a service's test database, for assertions only."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service_runtime.config import database_url


def query(service: str, sql: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(database_url(service), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql), params).all())
    finally:
        engine.dispose()


def scalar(service: str, sql: str, **params: Any) -> Any:
    rows = query(service, sql, **params)
    return rows[0][0] if rows else None
