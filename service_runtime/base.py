"""What every Nameko service class of the platform starts from."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

import sqlalchemy as sa
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider
from nameko.rpc import Responder, rpc
from pydantic import BaseModel, ValidationError

from contracts.access import Caller
from contracts.errors import InvalidInput
from contracts.rpc import Pong
from service_runtime import container as _container  # noqa: F401  (survives broker faults)
from service_runtime.callers import caller_of
from service_runtime.config import EnvSettings
from service_runtime.db import Database
from service_runtime.metrics import Metrics, MetricsServer
from service_runtime.worker_tracing import Tracing

S = TypeVar("S", bound=EnvSettings)


def parse_request(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate an RPC request against its contract, naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidInput(first["msg"], field) from None


class CallerProvider(DependencyProvider):
    """``self.caller``: the verified caller of this worker's RPC, or the service itself for events
    and timers (service_runtime/callers.py; the method of an unsigned RPC never runs)."""

    if TYPE_CHECKING:  # a service's attribute holds what get_dependency returns
        def __get__(self, instance: object, owner: type | None = None) -> Caller: ...

    def get_dependency(self, worker_ctx: Any) -> Caller:
        return caller_of(worker_ctx)


class SettingsProvider(DependencyProvider, Generic[S]):
    """``self.settings``: the service's own typed settings (an EnvSettings class), read from the
    environment once when the container starts; a malformed variable stops the start, named."""

    def __init__(self, kind: type[S]) -> None:
        self.kind = kind

    if TYPE_CHECKING:
        def __get__(self, instance: object, owner: type | None = None) -> S: ...

    def setup(self) -> None:
        self.value = self.kind.from_env()

    def get_dependency(self, worker_ctx: Any) -> S:
        return self.value


class ReplyPublisher(Publisher):
    """RPC replies without publisher confirms. A reply lost in a broker failure surfaces as
    the caller's timeout either way (callers retry with their idempotency keys); waiting for
    a confirm added a broker round trip to every RPC (seen in profiles of the slice)."""

    use_confirms = False


Responder.publisher_cls = ReplyPublisher


class MetricsWithServer(Metrics):
    server = MetricsServer()


class ServiceBase:
    """Database, tracing and metrics for every worker, and a ping for readiness checks."""

    name: str

    db = Database()
    caller = CallerProvider()
    tracing = Tracing()
    metrics = MetricsWithServer()

    @rpc
    def ping(self) -> dict[str, Any]:
        """Ready when this answers: the broker reached us and our database answers."""
        with self.db.transaction() as tx:
            tx.execute(sa.text("SELECT 1"))
        return Pong(service=self.name, ok=True).model_dump()

    @rpc
    def export_member(self, member_id: str) -> dict[str, Any]:
        """What this service holds about one member, for a privacy export. Services that hold
        anything override it; the gateway asks every service, so new ones join by overriding."""
        return {}
