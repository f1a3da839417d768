from collections.abc import Callable
from typing import Any

class Consumer:
    connect_max_retries: int | None
    should_stop: bool
    _loyalty_alive_at: float  # set by service_runtime.health
    # patched at start-up by service_runtime (faster reconnects, liveness stamps)
    run: Callable[..., Any]
    on_iteration: Callable[[Consumer], None]
    establish_connection: Callable[[Consumer], Any]
    def create_connection(self) -> Any: ...
    def on_connection_error(self, exc: Exception, interval: float) -> None: ...
    def ack_message(self, message: Any) -> None: ...
    def requeue_message(self, message: Any) -> None: ...
