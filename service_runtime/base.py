"""What every Nameko service class of the platform starts from."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from nameko.rpc import rpc
from pydantic import BaseModel, ValidationError

from contracts.errors import InvalidInput
from contracts.rpc import Pong
from service_runtime.db import Database
from service_runtime.metrics import Metrics, MetricsServer
from service_runtime.worker_tracing import Tracing


def parse_request(model: type[BaseModel], data: dict[str, Any]) -> Any:
    """Validate an RPC request against its contract, naming the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidInput(first["msg"], field) from None


class MetricsWithServer(Metrics):
    server = MetricsServer()


class ServiceBase:
    """Database, tracing and metrics for every worker, and a ping for readiness checks."""

    name: str

    db = Database()
    tracing = Tracing()
    metrics = MetricsWithServer()

    @rpc
    def ping(self) -> dict[str, Any]:
        """Ready when this answers: the broker reached us and our database answers."""
        with self.db.transaction() as tx:
            tx.execute(sa.text("SELECT 1"))
        return Pong(service=self.name, ok=True).model_dump()
