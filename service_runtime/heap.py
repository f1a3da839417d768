"""Garbage collection for request latency.

A full (generation 2) collection walks every object the process holds: with Nameko,
SQLAlchemy, pydantic and OpenTelemetry loaded that is over 100,000 at start, and points paused
for 100-190 ms at each of its full collections (9-11 in a `make bench-points` run, measured with
a gc callback), stalling every sale in flight. What exists once a process has started (its
modules, schemas, compiled statements, routes) lives as long as the process, so ``settle``
moves it out of the collector's sight (``gc.freeze``), and collections of the young generation
run every ``GC_GEN0_THRESHOLD`` allocations (10,000; Python's default is 700) instead of
several hundred times a second. ``GC_FREEZE=0`` turns both off.
"""
from __future__ import annotations

import gc

from service_runtime.config import env_bool, env_int


def settle() -> None:
    """Call once the process has started, before it takes requests."""
    if not env_bool("GC_FREEZE", True):
        return
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(max(env_int("GC_GEN0_THRESHOLD", 10_000), 1), middle, old)
