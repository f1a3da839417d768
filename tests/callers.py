"""Signed callers for tests that call services directly, as the gateway and services do.

Services serve only RPCs whose caller is signed with CALLER_SIGNING_KEY (contracts/caller_seal.py;
the tests' key is set by the ``platform_env`` fixture). ``entrypoint_hook`` and ``ClusterRpcClient``
here are Nameko's, with the ``caller`` of their context data (the JSON the gateway sends, or a
contracts.access.Caller) signed; without one the test calls as the service ``tests``. A test that
means to send an unsigned caller uses Nameko's own.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nameko.standalone import rpc as standalone
from nameko.testing import services as testing

from contracts.access import Caller, service
from contracts.caller_seal import CALLER, SIGNATURE
from service_runtime.callers import seal

TESTS = service("tests")


def signed(caller: str | Caller | None = None, context: dict[str, Any] | None = None) -> dict[str, Any]:
    """Context data with ``caller`` (default: the tests as a service) signed now."""
    kept = {k: v for k, v in (context or {}).items() if k not in (CALLER, SIGNATURE)}
    return {**kept, **seal().sign(caller or TESTS, time.time())}


def staff(*roles: str, stores: list[str] | None = None, id: str = "test-staff") -> str:
    return json.dumps({"kind": "staff", "id": id, "roles": list(roles), "stores": stores})


def key(kind: str, store: str | None = None, id: str = "test-key") -> str:
    return json.dumps({"kind": "key", "id": id, "roles": [kind], "stores": None if store is None else [store]})


def member(member_id: str) -> str:
    return json.dumps({"kind": "member", "id": member_id, "member_id": member_id})


@contextmanager
def entrypoint_hook(container: Any, method_name: str, context_data: dict[str, Any] | None = None,
                    timeout: float = 30) -> Iterator[Any]:
    """Nameko's entrypoint_hook with the context's caller signed."""
    context = context_data or {}
    with testing.entrypoint_hook(container, method_name, context_data=signed(context.get(CALLER), context),
                                 timeout=timeout) as hook:
        yield hook


class ClusterRpcClient(standalone.ClusterRpcClient):  # type: ignore[misc]
    """Nameko's standalone client with the context's caller signed when it is made (a test lasts
    less than CALLER_MAX_AGE_SECONDS)."""

    def __init__(self, context_data: dict[str, Any] | None = None, **options: Any) -> None:
        context = context_data or {}
        super().__init__(context_data=signed(context.get(CALLER), context), **options)
