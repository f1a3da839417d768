from collections.abc import Callable
from typing import Any, TypeVar, overload

from kombu.entity import Exchange
from nameko.amqp.consume import Consumer
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider, Entrypoint, SharedExtension

_F = TypeVar("_F", bound=Callable[..., Any])

class RpcConsumer(SharedExtension):
    amqp_uri: str
    consumer: Consumer
    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]: ...

class Rpc(Entrypoint):
    rpc_consumer: RpcConsumer

class Responder:
    publisher_cls: type[Publisher]
    def __init__(self, amqp_uri: str, exchange: Exchange, message: Any, ssl: Any = None,
                 login_method: Any = None) -> None: ...
    def send_response(self, result: Any, exc_info: Any) -> tuple[Any, Any]: ...

class Client:
    publish: Any
    register_for_reply: Any
    context_data: dict[str, Any]
    service_name: str | None
    method_name: str | None
    def __init__(self, publish: Any, register_for_reply: Any, context_data: dict[str, Any],
                 service_name: str | None = None, method_name: str | None = None) -> None: ...
    def __getattr__(self, name: str) -> Client: ...
    def _call(self, *args: Any, **kwargs: Any) -> Any: ...

class ServiceRpc(DependencyProvider):
    target_service: str
    publisher: Any
    reply_listener: Any
    def __init__(self, target_service: str, **kwargs: Any) -> None: ...
    # each attribute of the proxy is a remote method: typed by the contracts, not here
    def __get__(self, instance: object, owner: type[Any] | None = None) -> Any: ...

def get_rpc_exchange() -> Exchange: ...
@overload
def rpc(fn: _F) -> _F: ...
@overload
def rpc(*, expected_exceptions: tuple[type[BaseException], ...] = ...,
        sensitive_arguments: tuple[str, ...] = ...) -> Callable[[_F], _F]: ...
