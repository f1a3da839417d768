"""heap.settle: what a started process holds is frozen out of the collector's sight and young
collections run less often; GC_FREEZE=0 leaves the collector as Python sets it."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service_runtime import heap


@pytest.fixture
def collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_settle_freezes_what_exists_and_collects_the_young_less_often(collector, monkeypatch):
    monkeypatch.delenv("GC_FREEZE", raising=False)
    monkeypatch.setenv("GC_GEN0_THRESHOLD", "12345")
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    heap.settle()
    assert gc.get_freeze_count() > 10_000  # the test process's modules, classes and functions
    assert gc.get_threshold()[0] == 12345


def test_gc_freeze_off_leaves_the_collector_alone(collector, monkeypatch):
    monkeypatch.setenv("GC_FREEZE", "0")
    gc.unfreeze()
    before = gc.get_threshold()
    heap.settle()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
