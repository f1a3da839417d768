"""Rate limits shared by two gateway instances through the real Redis, and the per-process
fallback (never a refused request) when Redis cannot be reached."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from service_runtime.resp import Redis
from services.gateway.app import create_app
from tests.gateway.conftest import bearer, gateway_settings, make_staff, staff_token

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/9")  # not DB 0: others may use it


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def _fallbacks() -> float:
    return REGISTRY.get_sample_value("loyalty_gateway_ratelimit_fallback_total") or 0.0


@pytest.fixture
def prefix():
    tag = os.environ.get("LOYALTY_TEST_TAG", "test")
    return f"loyalty:rl:{tag}:{uuid.uuid4().hex[:8]}:"


@pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_two_gateways_share_one_limit_through_redis(engine, prefix):
    settings = gateway_settings(redis_url=REDIS_URL, redis_prefix=prefix, rate_staff=(0.5, 4))
    row, _ = make_staff(engine, ["auditor"])
    headers = bearer(staff_token(row))
    with TestClient(create_app(settings), raise_server_exceptions=False) as one, \
            TestClient(create_app(settings), raise_server_exceptions=False) as two:
        before = _fallbacks()
        statuses = [gateway.get("/v1/me", headers=headers).status_code for gateway in (one, two) * 4]
        # a burst of 4 for the caller across both, not 4 per gateway
        assert statuses == [200] * 4 + [429] * 4
        refused = two.get("/v1/me", headers=headers)
        assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 1
        other, _ = make_staff(engine, ["auditor"])
        assert one.get("/v1/me", headers=bearer(staff_token(other))).status_code == 200
        assert _fallbacks() == before  # every decision was taken in Redis
        keys = one.portal.call(_keys, prefix)
        assert keys == sorted([f"{prefix}staff:{row.id}", f"{prefix}staff:{other.id}"])


async def _keys(prefix: str) -> list[str]:
    redis = Redis(REDIS_URL, 1.0)
    try:
        found = await redis.execute("KEYS", prefix + "*")
        if found:
            await redis.execute("DEL", *found)
        return sorted(k.decode() for k in found)
    finally:
        await redis.close()


def test_without_redis_each_gateway_limits_alone_and_says_so(engine, prefix, caplog):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = gateway_settings(redis_url=f"redis://127.0.0.1:{port}/9", redis_prefix=prefix, rate_staff=(0.5, 3))
    row, _ = make_staff(engine, ["auditor"])
    headers = bearer(staff_token(row))
    before = _fallbacks()
    with caplog.at_level(logging.WARNING, "services.gateway.security.shared_limit"), \
            TestClient(create_app(settings), raise_server_exceptions=False) as alone:
        statuses = [alone.get("/v1/me", headers=headers).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]  # the per-process bucket: never a 5xx for Redis
    assert _fallbacks() - before == 5
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1  # once per outage


class _Switch:
    """A TCP relay to the real Redis that can be cut (every connection closed, new ones refused)
    and restored, in the event loop of the app under test."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: list[asyncio.StreamWriter] = []

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.links:
            writer.close()
        self.links.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", 6379)
        self.links += [writer, up_writer]

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.mark.skipif(not _redis_answers(), reason="no Redis on 127.0.0.1:6379")
def test_limits_are_shared_again_once_redis_is_back(engine, prefix, monkeypatch):
    from services.gateway.security import shared_limit

    monkeypatch.setattr(shared_limit, "_RETRY_SECONDS", 0.0)  # try Redis again at the next request
    row, _ = make_staff(engine, ["auditor"])
    headers = bearer(staff_token(row))
    switch = _Switch()
    settings = gateway_settings(redis_prefix=prefix, rate_staff=(0.5, 1000))
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as gateway:
        gateway.portal.call(switch.open)
        app.state.guard.limiter.redis = Redis(f"redis://127.0.0.1:{switch.port}/9", 1.0)
        assert gateway.get("/v1/me", headers=headers).status_code == 200
        before = _fallbacks()
        gateway.portal.call(switch.cut)
        assert gateway.get("/v1/me", headers=headers).status_code == 200  # decided alone
        assert _fallbacks() == before + 1
        gateway.portal.call(switch.open)  # same port, Redis reachable again
        assert gateway.get("/v1/me", headers=headers).status_code == 200
        assert _fallbacks() == before + 1  # back in Redis
        assert REGISTRY.get_sample_value("loyalty_gateway_ratelimit_shared") == 1
        assert gateway.portal.call(_keys, prefix) == [f"{prefix}staff:{row.id}"]
        gateway.portal.call(switch.cut)
