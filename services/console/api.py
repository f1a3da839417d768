"""The gateway's /v1 API as the console calls it: the user's token from the server-side session,
the browser's address forwarded (so per-IP limits count the real client), a refresh on 401."""
from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

if importlib.util.find_spec("sniffio") is None:
    # httpcore imports sniffio on every request and lock; absent (anyio 4 dropped it), each failed
    # import searched sys.path again: about 70 a staff member page. None there fails it at once.
    sys.modules["sniffio"] = None  # type: ignore[assignment]

from services.console.metrics import API_LATENCY
from services.console.sessions import Session, SessionStore


@dataclass
class ApiResult:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> dict[str, Any]:
        """The API's error body ({"code", "message", "field"?, "request_id"})."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return dict(self.body["error"])
        return {"code": str(self.status), "message": f"HTTP {self.status}"}

    def items(self) -> list[dict[str, Any]]:
        return list(self.body.get("items", [])) if self.ok and isinstance(self.body, dict) else []

    @property
    def next_cursor(self) -> str | None:
        return self.body.get("next_cursor") if self.ok and isinstance(self.body, dict) else None


class Api:
    def __init__(self, base_url: str, timeout: float, sessions: SessionStore) -> None:
        # no more idle connections kept than a page asks at once: httpcore polls each one per request
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                        limits=httpx.Limits(max_connections=100, max_keepalive_connections=10))
        self.sessions = sessions  # one refresh at a time, across processes: the API rotates the token on every use

    async def close(self) -> None:
        await self.client.aclose()

    async def call(self, method: str, path: str, session: Session | None = None, *, client_ip: str | None = None,
                   params: dict[str, Any] | None = None, json: Any = None, data: dict[str, str] | None = None,
                   content: bytes | None = None, headers: dict[str, str] | None = None,
                   idempotency_key: str | None = None) -> ApiResult:
        sent = dict(headers or {})
        if client_ip:
            sent["X-Forwarded-For"] = client_ip
        if idempotency_key:
            sent["Idempotency-Key"] = idempotency_key
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        used = session.access_token if session is not None else None
        body = {"json": json, "data": data, "content": content}
        result = await self._send(method, path, session, clean, body, sent)
        if result.status == 401 and session is not None and session.refresh_token and await self._refresh(session,
                                                                                                          used):
            result = await self._send(method, path, session, clean, body, sent)
        return result

    async def _send(self, method: str, path: str, session: Session | None, params: dict[str, Any],
                    body: dict[str, Any], headers: dict[str, str]) -> ApiResult:
        if session is not None and session.access_token:
            headers = {**headers, "Authorization": f"Bearer {session.access_token}"}
        headers.setdefault("X-Request-ID", str(uuid.uuid4()))
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, params=params, headers=headers, **body)
        except httpx.HTTPError as exc:
            API_LATENCY.labels(method, "unreachable").observe(time.perf_counter() - started)
            return ApiResult(503, {"error": {"code": "api_unreachable", "message": f"the API did not answer ({exc})",
                                             "request_id": headers["X-Request-ID"]}})
        API_LATENCY.labels(method, str(response.status_code)).observe(time.perf_counter() - started)
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {"error": {"code": str(response.status_code), "message": response.text[:200]}}
        return ApiResult(response.status_code, answer, dict(response.headers))

    async def _refresh(self, session: Session, used: str | None) -> bool:
        """Trade the refresh token for new tokens (the API rotates it on every use)."""
        async with self.sessions.refreshing(session):
            if session.access_token != used:  # another request of this session refreshed meanwhile
                return session.access_token is not None
            return await self._refresh_now(session)

    async def _refresh_now(self, session: Session) -> bool:
        result = await self._send("POST", "/v1/auth/refresh", None, {},
                                  {"json": {"refresh_token": session.refresh_token}}, {})
        if not result.ok:
            session.access_token = session.refresh_token = None
            return False
        session.access_token, session.refresh_token = result.body["access_token"], result.body["refresh_token"]
        return True
