"""Full collections paused services 100-190 ms: freeze what start-up built (docs/decisions/0013-gc-freeze.md)."""
from __future__ import annotations

import gc

from service_runtime.config import env_bool


def settle() -> None:
    """Call once the process has started, before it takes requests."""
    if not env_bool("GC_FREEZE", True):
        return
    gc.collect()
    gc.freeze()
