"""heap.settle: what a started process holds is frozen out of the collector's sight;
GC_FREEZE=0 leaves the collector as it was."""
from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service_runtime import heap


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


def test_settle_freezes_what_exists(unfrozen, monkeypatch):
    monkeypatch.delenv("GC_FREEZE", raising=False)
    assert gc.get_freeze_count() == 0
    heap.settle()
    assert gc.get_freeze_count() > 10_000  # the test process's modules, classes and functions


def test_gc_freeze_off_leaves_the_collector_alone(unfrozen, monkeypatch):
    monkeypatch.setenv("GC_FREEZE", "0")
    heap.settle()
    assert gc.get_freeze_count() == 0
