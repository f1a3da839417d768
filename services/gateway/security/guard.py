"""The request pipeline in front of every route, in order:

1. body rules: size (413) and content type (415) for requests that carry a body;
2. authentication of a bearer token or an X-API-Key (401, audited, when present but bad);
3. rate limits per API key, staff user or member, and per client IP when anonymous (429);
4. Idempotency-Key on POST: same key and body replays the first response, another body is 409
   (a replay shows secrets shown once, like a new API key, and contact data as null: neither is stored);
5. after the route: an audit entry for every write by staff or a key.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from typing import Any

import anyio
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_runtime.config import GatewaySettings
from services.gateway import repo
from services.gateway.db import GatewayDb
from services.gateway.errors import ApiError, error_body
from services.gateway.security import secrets
from services.gateway.security.principal import Principal
from services.gateway.security.shared_limit import SharedRateLimiter

log = logging.getLogger(__name__)

_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_FORM_ROUTES = {"/v1/auth/token"}  # OAuth2's password flow posts a form
_XML_ROUTES = {"/v1/notify/wechat/official-account/push"}  # WeChat's official account pushes XML
# uploads read by the route itself as a stream, with their own size limit and content types;
# never buffered here, and not replayed by Idempotency-Key (importing the same file twice
# creates nothing twice anyway)
_STREAMED_ROUTES = {"/v1/members/imports", "/v1/files/uploads"}
_NO_IDEMPOTENCY_PREFIX = "/v1/auth/"  # responses carry fresh secrets: never stored, never replayed
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{1,255}$")
_OPERATIONS = ("/healthz", "/readyz")  # polled by the orchestrator: never rate limited
_CACHE_SECONDS = 10.0  # a revoked key or a disabled staff user stops working within this time
_KEY_TOUCH_SECONDS = 60.0


def honours_idempotency(method: str, path: str) -> bool:
    """Whether an Idempotency-Key on this request is kept and replayed (the OpenAPI document declares
    the header exactly where this says yes)."""
    return method == "POST" and not path.startswith(_NO_IDEMPOTENCY_PREFIX) and path not in _STREAMED_ROUTES


class Guard:
    def __init__(self, settings: GatewaySettings, db: GatewayDb) -> None:
        self.settings = settings
        self.db = db
        self.limiter = SharedRateLimiter(settings.redis_url, settings.redis_prefix, settings.redis_timeout_seconds)
        self._keys: dict[str, tuple[Any, float]] = {}
        self._staff: dict[str, tuple[Any, float]] = {}
        self._touched: dict[str, float] = {}

    def forget_key(self, prefix: str) -> None:
        self._keys.pop(prefix, None)

    def forget_staff(self, staff_id: str) -> None:
        self._staff.pop(staff_id, None)

    async def _cached(self, cache: dict[str, tuple[Any, float]], key: str, load: Any, *args: Any) -> Any:
        hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[1] < _CACHE_SECONDS:
            return hit[0]
        row = await self.db.run(load, *args)
        if row is not None:  # unknown keys are not remembered: a flood of made-up keys must not grow memory
            if len(cache) > 50_000:
                cache.clear()
            cache[key] = (row, time.monotonic())
        return row

    # -- authentication ---------------------------------------------------------------
    async def authenticate(self, request: Request) -> Principal | None:
        authorization = request.headers.get("authorization")
        api_key = request.headers.get("x-api-key")
        if authorization and api_key:
            raise ApiError(400, "ambiguous_credentials", "send either a bearer token or an X-API-Key, not both")
        if api_key is not None:
            return await self._from_api_key(api_key)
        if authorization is not None:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise ApiError(401, "invalid_token", "Authorization must be 'Bearer <token>'",
                               headers={"WWW-Authenticate": "Bearer"})
            return await self._from_token(token.strip())
        return None

    async def _from_token(self, token: str) -> Principal:
        try:
            access = secrets.decode_access_token(self.settings.jwt_secret, token)
        except secrets.TokenError as exc:
            code = "token_expired" if exc.reason == "token expired" else "invalid_token"
            raise ApiError(401, code, exc.reason, headers={"WWW-Authenticate": "Bearer"}) from None
        if access.kind == "staff":
            # roles, stores and status come from the staff record (cached briefly), not from the
            # token, so a change or a disabled account takes effect within seconds
            row = await self._cached(self._staff, access.subject, repo.staff_by_id, access.subject)
            if row is None or row.disabled:
                raise ApiError(401, "invalid_token", "account disabled or removed",
                               headers={"WWW-Authenticate": "Bearer"})
            return Principal("staff", access.subject, row.username, roles=frozenset(row.roles),
                             stores=None if row.stores is None else frozenset(row.stores))
        if access.kind == "member":
            return Principal("member", access.subject, "member", member_id=access.subject)
        raise ApiError(401, "invalid_token", "token invalid", headers={"WWW-Authenticate": "Bearer"})

    async def _from_api_key(self, api_key: str) -> Principal:
        parts = secrets.split_api_key(api_key)
        row = None
        if parts is not None:
            prefix, secret = parts
            row = await self._cached(self._keys, prefix, repo.api_key_by_prefix, prefix)
            if row is not None and (row.revoked_at is not None or not secrets.secret_matches(secret, row.secret_hash)):
                row = None
        if row is None:
            raise ApiError(401, "invalid_api_key", "API key unknown or revoked")
        if time.monotonic() - self._touched.get(row.id, 0.0) > _KEY_TOUCH_SECONDS:
            self._touched[row.id] = time.monotonic()
            await self.db.run(repo.touch_api_key, row.id)
        return Principal("key", str(row.id), row.name, roles=frozenset({row.kind}),
                         stores=None if row.store is None else frozenset({row.store}),
                         scopes=frozenset(row.scopes))

    # -- rate limits ---------------------------------------------------------------------
    async def rate_limit(self, request: Request, principal: Principal | None) -> int | None:
        s = self.settings
        if principal is None:
            rate, key = s.rate_ip, "ip:" + (request.client.host if request.client else "?")
        else:
            rate = {"key": s.rate_key, "staff": s.rate_staff, "member": s.rate_member}[principal.kind]
            key = f"{principal.kind}:{principal.id}"
        return await self.limiter.check(key, *rate)

    # -- the middleware --------------------------------------------------------------------
    async def handle(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            problem = await self._check_body(request)
            if problem is not None:
                await problem(scope, receive, send)
                return
            if hasattr(request, "_body"):  # read by the body rules: the route reads it again
                receive = _replaying(request._body, receive)
            try:
                principal = await self.authenticate(request)
            except ApiError as exc:
                if exc.status == 401:
                    # bad credentials are throttled per client IP before they cost an audit entry
                    retry_after = await self.rate_limit(request, None)
                    if retry_after is not None:
                        await _error(request, ApiError(429, "rate_limited", "too many requests; slow down",
                                                       headers={"Retry-After": str(retry_after)}))(scope, receive, send)
                        return
                    await request.app.state.auditor.record(request, "auth.failed", exc.code,
                                                           details={"route": request.url.path})
                raise
            request.state.principal = principal
            operations = request.url.path.startswith(_OPERATIONS)
            retry_after = None if operations else await self.rate_limit(request, principal)
            if retry_after is not None:
                raise ApiError(429, "rate_limited", "too many requests; slow down",
                               headers={"Retry-After": str(retry_after)})
            # the app's answers go out audited (a replay marks itself audited already); the guard's own
            # refusals (a bad, reused or in-progress Idempotency-Key) go out below through the plain send
            audited_send = self._auditing(request, send)
            if request.headers.get("idempotency-key") is not None and honours_idempotency(request.method,
                                                                                           request.url.path):
                await self._idempotent(request, principal, app, receive, audited_send)
            else:
                await app(scope, receive, audited_send)
        except ApiError as exc:
            await _error(request, exc)(scope, receive, send)

    def _auditing(self, request: Request, send: Send) -> Send:
        """``send``, recording an audit entry for a write by staff or a key just before its answer
        starts (so the entry exists once the caller has the answer), unless the route audited it."""
        principal = request.state.principal
        if request.method not in _WRITE_METHODS or principal is None or principal.kind == "member":
            return send
        auditor = request.app.state.auditor

        async def send_audited(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] != 429 \
                    and not getattr(request.state, "audited", False):
                await auditor.record(request, _action(request), str(message["status"]))
            await send(message)

        return send_audited

    async def _check_body(self, request: Request) -> Response | None:
        if "%00" in request.url.query or "%00" in request.scope.get("raw_path", b"").decode("latin-1"):
            return _error(request, ApiError(422, "invalid_input", "NUL characters are not accepted"))
        if request.method not in _WRITE_METHODS or request.url.path in _STREAMED_ROUTES:
            return None
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.settings.max_body_bytes):
            return _error(request, ApiError(413, "payload_too_large",
                                            f"body larger than {self.settings.max_body_bytes} bytes"))
        body = await _bounded_body(request, self.settings.max_body_bytes)
        if body is None:  # a chunked body with no Content-Length, past the limit: stop reading it
            return _error(request, ApiError(413, "payload_too_large",
                                            f"body larger than {self.settings.max_body_bytes} bytes"))
        if not body:
            return None
        if b"\\u0000" in body or b"\x00" in body:  # PostgreSQL text cannot hold NUL; refuse it up front
            return _error(request, ApiError(422, "invalid_input", "NUL characters are not accepted"))
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        path = request.url.path
        wanted = ("application/x-www-form-urlencoded",) if path in _FORM_ROUTES else (
            ("text/xml", "application/xml") if path in _XML_ROUTES else ("application/json",))
        if media not in wanted:
            return _error(request, ApiError(415, "unsupported_media_type", f"send the body as {' or '.join(wanted)}"))
        return None

    async def _idempotent(self, request: Request, principal: Principal | None, app: ASGIApp, receive: Receive,
                          send: Send) -> None:
        key = request.headers["idempotency-key"]
        if not _IDEMPOTENCY_KEY.match(key):
            raise ApiError(422, "invalid_input", "1-255 characters of A-Z a-z 0-9 _ . : -", field="Idempotency-Key")
        scope = f"{principal.kind}:{principal.id}" if principal else \
            "ip:" + (request.client.host if request.client else "?")
        fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, await request.body())
        stale_after = 2 * self.settings.rpc_timeout_seconds + 30  # a claim no live request can still hold
        existing = await self.db.run(repo.claim_idempotency_key, scope, key, fingerprint, stale_after)
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise ApiError(409, "idempotency_key_reused",
                               "this Idempotency-Key was used with a different request", field="Idempotency-Key")
            if existing.status_code is None:
                raise ApiError(409, "idempotency_in_progress", "a request with this Idempotency-Key is in progress",
                               field="Idempotency-Key", headers={"Retry-After": "1"})
            request.state.audited = True  # the first response was audited; a replay changes nothing
            headers = dict(existing.response_headers or {})
            headers["Idempotent-Replayed"] = "true"
            await Response(existing.response_body, status_code=existing.status_code,
                           headers=headers)(request.scope, receive, send)
            return
        messages: list[Message] = []  # the answer, held back until it is stored

        async def keep(message: Message) -> None:
            messages.append(message)

        try:
            await app(request.scope, receive, keep)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.db.run(repo.release_idempotency_key, scope, key)
            raise
        start = next(m for m in messages if m["type"] == "http.response.start")
        status = start["status"]
        if status >= 500 or status == 429:
            await self.db.run(repo.release_idempotency_key, scope, key)  # a retry may succeed: do not pin
        else:
            body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
            sent = Headers(raw=start.get("headers", []))
            kept = {k: v for k, v in sent.items() if k.lower() in ("content-type", "location", "etag")}
            await self.db.run(repo.complete_idempotency_key, scope, key, status,
                              _redacted(body, getattr(request.state, "idempotency_redact", ())), kept)
        for message in messages:
            await send(message)


def canonical_body(body: bytes) -> bytes:
    """The body as the route reads it: a JSON body with its keys sorted and no spacing, so the same
    request with its keys in another order (or pretty-printed) is the same request; anything that
    is not JSON as sent (the route refuses it anyway)."""
    try:
        return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        return body


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """What an Idempotency-Key is bound to: method, path, query and the canonical body."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"?" + query.encode()
                          + b"\n" + canonical_body(body)).hexdigest()


class GuardMiddleware:
    """The guard as plain ASGI, inside the telemetry middleware (which has set the request id)."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.guard.handle(self.app, scope, receive, send)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app downstream: the body already read, then whatever comes next
    (a disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, read chunk by chunk and given up on as soon as it passes ``limit`` (None)."""
    if hasattr(request, "_body"):
        return bytes(request._body)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # where Request.body() caches it; the route downstream reads it from there
    return body


def _redacted(body: bytes, fields: tuple[str, ...] | list[str]) -> bytes:
    """The body to keep for replays, without what must not be stored: secrets shown only once
    and personal contact data (a replay shows them as null). Fields are dotted paths."""
    if not fields:
        return body
    try:
        data = json.loads(body)
    except ValueError:
        return body
    for path in fields:
        *parents, name = path.split(".")
        node = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and name in node:
            node[name] = None
    return json.dumps(data).encode()


def _action(request: Request) -> str:
    effective = (request.scope.get("fastapi") or {}).get("effective_route_context")
    route = getattr(effective, "path", None) or request.url.path
    return f"{request.method} {route}"


def _error(request: Request, exc: ApiError) -> JSONResponse:
    return JSONResponse(error_body(request, exc.code, exc.message, exc.field), status_code=exc.status,
                        headers=exc.headers)
