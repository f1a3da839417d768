"""What every campaigns entrypoint class starts from: typed access to the worker's transaction and
caller, and typed forms of Nameko's decorators (Nameko ships no type hints)."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

from nameko.rpc import rpc
from nameko.timer import timer

from contracts.errors import (
    Conflict,
    Forbidden,
    InsufficientPoints,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from service_runtime.base import Caller, ServiceBase
from service_runtime.db import Tx, WorkerDb

F = TypeVar("F", bound=Callable[..., Any])
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict, InsufficientPoints, ServiceUnavailable)


def rpc_method(fn: F) -> F:
    """An RPC entrypoint whose typed errors go back to the caller as they are."""
    return cast(F, rpc(expected_exceptions=EXPECTED)(fn))


def every(seconds: int) -> Callable[[F], F]:
    """A timer entrypoint."""
    def decorate(fn: F) -> F:
        return cast(F, timer(interval=seconds)(fn))
    return decorate


class CampaignsWorker(ServiceBase):
    """Nameko puts the worker's dependencies where the class has its providers: read them typed."""

    def worker_db(self) -> WorkerDb:
        return cast(WorkerDb, self.db)

    def tx(self) -> AbstractContextManager[Tx]:
        return self.worker_db().transaction()

    def who(self) -> Caller:
        return cast(Caller, self.caller)
