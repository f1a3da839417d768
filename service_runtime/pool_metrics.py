"""Database pool occupancy as Prometheus gauges: connections in use and the pool's ceiling,
per database, read from every live engine at scrape time (nothing is counted on the hot path)."""
from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

_ENGINES: "weakref.WeakSet[sa.Engine]" = weakref.WeakSet()


class PoolCollector:
    def collect(self) -> Iterator[Any]:
        in_use = GaugeMetricFamily("loyalty_db_pool_in_use", "Connections checked out of the pool",
                                   labels=["database"])
        capacity = GaugeMetricFamily("loyalty_db_pool_capacity", "Most connections the pool will open "
                                     "(size plus overflow)", labels=["database"])
        totals: dict[str, list[int]] = {}
        for engine in list(_ENGINES):
            pool = engine.pool
            if not isinstance(pool, sa.pool.QueuePool):
                continue
            seen = totals.setdefault(str(engine.url.database), [0, 0])
            seen[0] += pool.checkedout()
            seen[1] += pool.size() + max(pool._max_overflow, 0)
        for database, (used, ceiling) in sorted(totals.items()):
            in_use.add_metric([database], used)
            capacity.add_metric([database], ceiling)
        yield in_use
        yield capacity


def track(engine: sa.Engine) -> None:
    """Report this engine's pool (engines of one database in one process add up)."""
    _ENGINES.add(engine)


REGISTRY.register(PoolCollector())
