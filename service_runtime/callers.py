"""Signed callers inside a Nameko service: checking the caller of each RPC, signing our own calls.

An RPC is served only with a caller signed by a key we accept (contracts/caller_seal.py);
anything else is answered ``UntrustedCaller`` and the method never runs. Event handlers and
timers act as the service itself. Calls a service makes to another are signed as
``service:<name>``, naming whom it acts for where that person must be recorded
(``client.acting_for(who)``).
"""
from __future__ import annotations

import functools
import time
from typing import Any

from nameko.rpc import Client, Rpc, ServiceRpc

from contracts.access import Caller, service
from contracts.caller_seal import CALLER, SIGNATURE, CallerSeal, parse_keys
from contracts.errors import UntrustedCaller
from service_runtime.config import env, env_int
from service_runtime.metrics import REFUSED_CALLERS


def seal() -> CallerSeal:
    """The platform's caller keys: CALLER_SIGNING_KEY signs, CALLER_ACCEPTED_KEYS are accepted too."""
    return _seal(env("CALLER_SIGNING_KEY", ""), env("CALLER_ACCEPTED_KEYS", ""),
                 env_int("CALLER_MAX_AGE_SECONDS", 300))


@functools.lru_cache(maxsize=4)
def _seal(key: str, accepted: str, max_age: int) -> CallerSeal:
    if not key:
        raise RuntimeError("CALLER_SIGNING_KEY must be set (the same random string in the gateway and every service)")
    return CallerSeal(key, tuple(parse_keys(accepted)), max_age)


_NOBODY = Caller(kind="member")  # the caller of a refused RPC, never read: its method does not run


def caller_of(worker_ctx: Any) -> Caller:
    """The verified caller of an RPC worker; the service itself for events and timers. A refused
    caller's worker gets, in place of its method, one raising UntrustedCaller: Nameko looks the
    method up after injecting dependencies, and an error raised here would kill the container."""
    name = worker_ctx.container.service_name
    if not isinstance(worker_ctx.entrypoint, Rpc):
        return service(name)
    try:
        return seal().verify(worker_ctx.context_data, time.time())
    except UntrustedCaller as exc:
        REFUSED_CALLERS.labels(name).inc()
        setattr(worker_ctx.service, worker_ctx.entrypoint.method_name, functools.partial(_refuse, exc))
        return _NOBODY


def _refuse(exc: UntrustedCaller, *args: Any, **kwargs: Any) -> None:
    raise exc


def signed_context(name: str, context: dict[str, Any] | None = None,
                   on_behalf_of: str | None = None) -> dict[str, Any]:
    """``context`` (a worker's, passed on) with its caller replaced by this service, signed now."""
    kept = {k: v for k, v in (context or {}).items() if k not in (CALLER, SIGNATURE)}
    return {**kept, **seal().sign(service(name, on_behalf_of), time.time())}


class SignedClient(Client):
    """Nameko's RPC client, signing its service's identity into each call as it is made."""

    def __init__(self, service_name_as_caller: str, publish: Any, register_for_reply: Any, context_data: Any,
                 service_name: str | None = None, method_name: str | None = None,
                 on_behalf_of: str | None = None) -> None:
        super().__init__(publish, register_for_reply, context_data, service_name, method_name)
        self.as_caller, self.on_behalf_of = service_name_as_caller, on_behalf_of

    def __getattr__(self, name: str) -> SignedClient:
        plain = super().__getattr__(name)
        return SignedClient(self.as_caller, self.publish, self.register_for_reply, self.context_data,
                            plain.service_name, plain.method_name, self.on_behalf_of)

    def acting_for(self, who: str) -> SignedClient:
        """This client with ``who`` signed as the person (or adapter) the calls are made for."""
        return SignedClient(self.as_caller, self.publish, self.register_for_reply, self.context_data,
                            self.service_name, self.method_name, who)

    def _call(self, *args: Any, **kwargs: Any) -> Any:
        self.context_data = signed_context(self.as_caller, self.context_data, self.on_behalf_of)
        return super()._call(*args, **kwargs)


class SignedServiceRpc(ServiceRpc):
    """``ServiceRpc`` whose calls carry this service as their signed caller."""

    def get_dependency(self, worker_ctx: Any) -> Any:
        client = SignedClient(self.container.service_name, self.publisher.publish,
                              self.reply_listener.register_for_reply, dict(worker_ctx.context_data))
        return getattr(client, self.target_service)
