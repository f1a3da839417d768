"""The gateway's database: SQLAlchemy Core on psycopg2, called from asyncio through a thread pool.

Store functions are plain synchronous functions taking the engine first; routes run them
with ``await db.run(fn, ...)`` so the event loop never blocks on the database.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread

from service_runtime import pool

T = TypeVar("T")


class GatewayDb:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.engine = pool.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800,
                                         pool_timeout=10, hide_parameters=True)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(functools.partial(fn, self.engine, *args, **kwargs))

    def dispose(self) -> None:
        self.engine.dispose()
