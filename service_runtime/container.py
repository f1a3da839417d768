"""A Nameko container that no broker or database fault can kill.

Nameko kills the whole container (and ``runner.py`` then exits) when anything outside a
service method raises: a reply that cannot be published, an ack on a dead channel, a
dependency's worker hook. Here each is logged (once per burst) and counted instead, and a
method's database/broker error travels to the caller as ``ServiceUnavailable`` (the gateway
answers 503 with Retry-After, and the till retries with the same transaction id).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from nameko import config
from nameko.amqp.consume import Consumer
from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.containers import ServiceContainer
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange

from contracts.errors import ServiceUnavailable
from service_runtime import health  # noqa: F401  (stamps every consumer's loop: liveness)
from service_runtime.faults import BurstLog, is_unavailable
from service_runtime.metrics import CONTAINED_FAILURES, UNAVAILABLE_ERRORS

log = logging.getLogger(__name__)

_REPLY_LOG = BurstLog(log, "an RPC reply could not be published (the caller times out and retries)")
_HOOK_LOG = BurstLog(log, "a worker's result handling failed")


def as_unavailable(service: str, exc_info: Any) -> Any:
    """The exc_info to send: a dependency that is away becomes ServiceUnavailable."""
    if exc_info is None or not is_unavailable(exc_info[1]):
        return exc_info
    UNAVAILABLE_ERRORS.labels(service).inc()
    exc = ServiceUnavailable(f"{service} cannot reach a dependency ({type(exc_info[1]).__name__}); retry shortly")
    return (ServiceUnavailable, exc, None)


class ResilientRpcConsumer(RpcConsumer):
    """Nameko's RPC consumer, but a reply that cannot be published is dropped with a log line
    and a metric (the request is still acked: its caller has a timeout and an idempotency key)."""

    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        exc_info = as_unavailable(self.container.service_name, exc_info)
        responder = Responder(self.amqp_uri, get_rpc_exchange(), message, ssl=config.get(AMQP_SSL_CONFIG_KEY),
                              login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except Exception as exc:
            CONTAINED_FAILURES.labels(self.container.service_name, "rpc_reply").inc()
            _REPLY_LOG.failed(exc)
        try:
            self.consumer.ack_message(message)
        except Exception as exc:  # the channel died with the broker: it redelivers the request
            CONTAINED_FAILURES.labels(self.container.service_name, "rpc_ack").inc()
            _REPLY_LOG.failed(exc)
        return result, exc_info


Rpc.rpc_consumer = ResilientRpcConsumer()  # every @rpc of every service binds this one


@contextmanager
def _establish_connection(self: Consumer) -> Iterator[Any]:
    """kombu retries a lost broker after 2, 4, 6 ... up to 30 s; every 0.5-2 s brings a
    consumer back within a couple of seconds of the broker (measured: 7 s before, after a 10 s outage)."""
    with self.create_connection() as conn:
        conn.ensure_connection(self.on_connection_error, self.connect_max_retries,
                               interval_start=0.5, interval_step=0.5, interval_max=2)
        yield conn


Consumer.establish_connection = _establish_connection


class ResilientContainer(ServiceContainer):
    """A worker's result handling and hooks may fail; the container lives on."""

    def spawn_worker(self, entrypoint: Any, args: Any, kwargs: Any, context_data: Any = None,
                     handle_result: Any = None) -> Any:
        if handle_result is not None:
            handle_result = partial(self._contained_result, handle_result)
        return super().spawn_worker(entrypoint, args, kwargs, context_data=context_data,
                                    handle_result=handle_result)

    def _contained_result(self, handle_result: Any, worker_ctx: Any, result: Any, exc_info: Any) -> Any:
        try:
            return handle_result(worker_ctx, result, exc_info)
        except Exception as exc:  # an ack or reply on a dead connection: the broker redelivers
            CONTAINED_FAILURES.labels(self.service_name, "handle_result").inc()
            _HOOK_LOG.failed(exc)
            return result, exc_info

    def _worker_result(self, worker_ctx: Any, result: Any, exc_info: Any) -> None:
        for provider in self.dependencies:
            try:
                provider.worker_result(worker_ctx, result, exc_info)
            except Exception as exc:
                CONTAINED_FAILURES.labels(self.service_name, "worker_result").inc()
                _HOOK_LOG.failed(exc)

    def _worker_teardown(self, worker_ctx: Any) -> None:
        for provider in self.dependencies:
            try:
                provider.worker_teardown(worker_ctx)
            except Exception as exc:
                CONTAINED_FAILURES.labels(self.service_name, "worker_teardown").inc()
                _HOOK_LOG.failed(exc)


CONTAINER_CLS = f"{__name__}.ResilientContainer"
