from collections.abc import Callable
from typing import Any

from nameko.extensions import DependencyProvider, Entrypoint

class WorkerContext:
    container: ServiceContainer
    service: Any
    entrypoint: Entrypoint
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    data: dict[str, Any]
    call_id: str
    @property
    def context_data(self) -> dict[str, Any]: ...
    @property
    def service_name(self) -> str: ...

class ServiceContainer:
    service_cls: type[Any]
    service_name: str
    config: dict[str, Any]
    dependencies: Any
    entrypoints: Any
    def __init__(self, service_cls: type[Any]) -> None: ...
    def spawn_managed_thread(self, fn: Callable[[], Any], identifier: str | None = None) -> Any: ...
    def spawn_worker(self, entrypoint: Entrypoint, args: Any, kwargs: Any, context_data: Any = None,
                     handle_result: Any = None) -> WorkerContext: ...
    def _worker_result(self, worker_ctx: WorkerContext, result: Any, exc_info: Any) -> None: ...
    def _worker_teardown(self, worker_ctx: WorkerContext) -> None: ...

__all__ = ["DependencyProvider", "ServiceContainer", "WorkerContext"]
