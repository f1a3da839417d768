"""What every campaigns entrypoint class starts from: typed access to the worker's transaction and
caller, and typed forms of Nameko's decorators (Nameko ships no type hints)."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from nameko.rpc import rpc
from nameko.timer import timer

from contracts.access import Caller
from contracts.errors import (
    Conflict,
    Forbidden,
    InsufficientPoints,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from service_runtime.base import ServiceBase
from service_runtime.db import Tx, WorkerDb

F = TypeVar("F", bound=Callable[..., Any])
EXPECTED: tuple[type[Exception], ...] = (InvalidInput, NotFound, Forbidden, Conflict)
WITH_POINTS = (*EXPECTED, InsufficientPoints, ServiceUnavailable)  # coupons also relay points' errors


def rpc_entry(expected: tuple[type[Exception], ...]) -> Callable[[F], F]:
    """An RPC entrypoint whose ``expected`` errors go back to the caller as they are."""
    def decorate(fn: F) -> F:
        return rpc(expected_exceptions=expected)(fn)
    return decorate


rpc_method = rpc_entry(EXPECTED)


def every(seconds: int) -> Callable[[F], F]:
    """A timer entrypoint."""
    def decorate(fn: F) -> F:
        return timer(interval=seconds)(fn)
    return decorate


class CampaignsWorker(ServiceBase):
    """Nameko puts the worker's dependencies where the class has its providers: read them typed."""

    def worker_db(self) -> WorkerDb:
        return self.db

    def tx(self) -> AbstractContextManager[Tx]:
        return self.worker_db().transaction()

    def who(self) -> Caller:
        return self.caller
