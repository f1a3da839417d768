"""An asyncio client for Nameko RPC over AMQP (aio-pika), used by the gateway.

Nameko's wire protocol: publish ``{"args": [...], "kwargs": {...}}`` as JSON to the
``nameko-rpc`` topic exchange with routing key ``<service>.<method>``, a ``reply_to``
routing key and a ``correlation_id``; context data travels as ``nameko.<key>`` headers.
The reply, published to the same exchange with our ``reply_to`` as routing key, is
``{"result": ..., "error": null | {"exc_type", "exc_path", "exc_args", "value"}}``.
Every call carries its caller signed as it is sent (contracts/caller_seal.py): the request's
authenticated caller, or the gateway itself on routes open to anonymous callers.

One robust connection and one exclusive reply queue per gateway process; every call is a
future keyed by correlation id. A request carries an expiration equal to its timeout, so
a request nobody took in time is dropped rather than executed after the caller gave up.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from contracts import access
from contracts.caller_seal import CALLER, CallerSeal
from services.gateway.breaker import Breaker, CircuitOpen

log = logging.getLogger(__name__)

RPC_EXCHANGE = "nameko-rpc"

# What a till waits on: a sale or a hold takes tens of milliseconds when points is well, so a
# few seconds is already a fault; answering 503 soon lets the till retry or sell without points.
TILL_METHODS = frozenset({
    "points.record_sale", "points.refund_sale", "points.hold", "points.commit_hold", "points.release_hold",
    "points.get_account", "members.lookup_phone", "members.get", "members.register",
})


class RpcUnavailable(Exception):
    """The broker cannot be reached, or no service consumes the request."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RpcTimeout(Exception):
    """No reply within the timeout."""


@dataclass
class RemoteError(Exception):
    """The service raised; ``exc_type`` names its class (see contracts.errors)."""

    exc_type: str
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return f"{self.exc_type}: {self.message}"


def parse_remote_error(error: dict[str, Any]) -> RemoteError:
    args = error.get("exc_args") or []
    message = str(args[0]) if args else str(error.get("value") or error.get("exc_type"))
    field = args[1] if len(args) > 1 and isinstance(args[1], str) else None
    return RemoteError(str(error.get("exc_type") or "Exception"), message, field)


class RpcClient:
    def __init__(self, amqp_uri: str, default_timeout: float = 10.0, till_timeout: float = 3.0,
                 breaker_threshold: int = 5, breaker_open_seconds: float = 2.0, *, seal: CallerSeal) -> None:
        self.amqp_uri = amqp_uri
        self.seal = seal
        self.default_timeout = default_timeout
        self.till_timeout = min(till_timeout, default_timeout)
        self._breaker_args = (breaker_threshold, breaker_open_seconds)
        self._breakers: dict[str, Breaker] = {}
        self._connection: AbstractRobustConnection | None = None
        self._exchange: Any = None
        self._reply_queue_name = f"rpc.reply-gateway-{uuid.uuid4().hex}"
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._connect_task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    # -- connection ---------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying), so the gateway starts even if the broker is down."""
        self._connect_task = asyncio.get_running_loop().create_task(self._connect_forever())

    async def _connect_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._connect()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("broker unreachable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _connect(self) -> None:
        connection = await aio_pika.connect_robust(self.amqp_uri, timeout=5, reconnect_interval=1)
        channel = await connection.channel(publisher_confirms=False)
        channel.return_callbacks.add(self._on_return)
        exchange = await channel.declare_exchange(RPC_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(self._reply_queue_name, exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=self._reply_queue_name)
        await queue.consume(self._on_reply, no_ack=True)
        connection.reconnect_callbacks.add(self._on_reconnect)
        connection.close_callbacks.add(self._on_connection_lost)
        self._connection, self._exchange = connection, exchange
        self._ready.set()
        log.info("RPC client connected")

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def close(self) -> None:
        if self._connect_task is not None:
            self._connect_task.cancel()
        self._fail_pending(RpcUnavailable("gateway shutting down"))
        if self._connection is not None:
            await self._connection.close()

    def _fail_pending(self, exc: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()

    def _on_connection_lost(self, *args: Any) -> None:
        # replies to requests in flight would arrive on a queue that no longer exists
        self._fail_pending(RpcUnavailable("connection to the broker lost"))

    def _on_reconnect(self, *args: Any) -> None:
        log.info("RPC client reconnected")

    # -- replies --------------------------------------------------------------------
    def _on_reply(self, message: AbstractIncomingMessage) -> None:
        future = self._pending.pop(message.correlation_id or "", None)
        if future is None or future.done():
            return  # a reply for a call that timed out
        try:
            body = json.loads(message.body)
        except ValueError:
            future.set_exception(RemoteError("MalformedReply", "reply was not JSON"))
            return
        if body.get("error"):
            future.set_exception(parse_remote_error(body["error"]))
        else:
            future.set_result(body.get("result"))

    def _on_return(self, channel: Any, message: AbstractIncomingMessage) -> None:
        future = self._pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            service = (message.routing_key or "").split(".")[0]
            future.set_exception(RpcUnavailable(f"service {service!r} is not running"))

    # -- calls ----------------------------------------------------------------------
    def timeout_for(self, service: str, method: str) -> float:
        return self.till_timeout if f"{service}.{method}" in TILL_METHODS else self.default_timeout

    def breaker(self, service: str) -> Breaker:
        if service not in self._breakers:
            threshold, open_seconds = self._breaker_args
            self._breakers[service] = Breaker(service, threshold, open_seconds)
        return self._breakers[service]

    async def call(self, service: str, method: str, *, context: dict[str, str] | None = None,
                   timeout: float | None = None, **kwargs: Any) -> Any:
        """One call through the service's breaker: an open breaker answers RpcUnavailable at once."""
        breaker = self.breaker(service)
        try:
            probe = breaker.before_call()
        except CircuitOpen as exc:
            raise RpcUnavailable(str(exc), retry_after=exc.retry_after) from None
        outcome, error = None, None
        try:
            result = await self._call(service, method, context=context, timeout=timeout, **kwargs)
            outcome = True
            return result
        except (RpcUnavailable, RpcTimeout) as exc:
            outcome, error = False, f"{type(exc).__name__}: {exc}"
            raise
        except RemoteError as exc:
            outcome, error = exc.exc_type != "ServiceUnavailable", str(exc)
            raise
        finally:
            if outcome is None:
                breaker.released(probe)
            elif outcome:
                breaker.succeeded(probe)
            else:
                breaker.failed(probe, error)

    def _signed(self, context: dict[str, Any] | None) -> dict[str, Any]:
        """The context with its caller (the JSON of contracts.access.Caller) signed now."""
        context = dict(context or {})
        caller = context.pop(CALLER, None) or access.service(access.GATEWAY)
        return {**context, **self.seal.sign(caller, time.time())}

    async def _call(self, service: str, method: str, *, context: dict[str, str] | None = None,
                    timeout: float | None = None, **kwargs: Any) -> Any:
        timeout = self.timeout_for(service, method) if timeout is None else timeout
        if not self._ready.is_set() or not self.connected:
            raise RpcUnavailable("broker unreachable")
        correlation_id = uuid.uuid4().hex
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[correlation_id] = future
        message = aio_pika.Message(
            body=json.dumps({"args": [], "kwargs": kwargs}).encode(),
            content_type="application/json",
            content_encoding="utf-8",
            correlation_id=correlation_id,
            reply_to=self._reply_queue_name,
            headers={f"nameko.{k}": v for k, v in self._signed(context).items() if v is not None},
            expiration=timeout,
            delivery_mode=aio_pika.DeliveryMode.NOT_PERSISTENT,
        )
        try:
            await asyncio.wait_for(
                self._exchange.publish(message, routing_key=f"{service}.{method}", mandatory=True), timeout
            )
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise RpcTimeout(f"{service}.{method} did not answer within {timeout}s") from None
        except (aio_pika.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
            raise RpcUnavailable(f"broker unreachable ({type(exc).__name__})") from None
        finally:
            self._pending.pop(correlation_id, None)
