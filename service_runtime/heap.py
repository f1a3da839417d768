"""Garbage collection for request latency.

A full (generation 2) collection walks every object the process holds: with Nameko,
SQLAlchemy, pydantic and OpenTelemetry loaded that is over 100,000 at start, and points paused
for 100-190 ms at each of its full collections (9-11 in a `make bench-points` run, measured with
a gc callback), stalling every sale in flight. What exists once a process has started (its
modules, schemas, compiled statements, routes) lives as long as the process, so ``settle``
moves it out of the collector's sight (``gc.freeze``): points' full collections then took
p50 14 ms (max 71) and its collections 0.58 s in all over a run instead of 1.37 s.
Collecting the young less often (every 10,000 allocations instead of 700) cut that further
but made each generation-1 collection ~34 ms, with no clear gain in the benchmark's figures,
so Python's thresholds stay. ``GC_FREEZE=0`` turns the freeze off.
"""
from __future__ import annotations

import gc

from service_runtime.config import env_bool


def settle() -> None:
    """Call once the process has started, before it takes requests."""
    if not env_bool("GC_FREEZE", True):
        return
    gc.collect()
    gc.freeze()
