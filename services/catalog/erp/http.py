"""HTTP with JSON for the adapters (stdlib urllib: green under eventlet, nothing to install), retried
with tenacity on what passes: connection drops, timeouts, 5xx, and 429 honouring Retry-After."""
from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from services.catalog.erp.interface import AdapterError, AuthFailed, SourceUnavailable

USER_AGENT = "loyalty-catalog-erp-sync/1"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_wait: float = 0.5  # seconds, doubled each try
    max_wait: float = 30.0  # also caps a server's Retry-After
    timeout: float = 30.0  # per request


class Transient(Exception):
    """Worth another try; ``wait`` is the server's Retry-After when it sent one."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.wait = wait


def retry_after(raw: str | None) -> float | None:
    """Retry-After in seconds (the delta form; an HTTP date is treated as 'soon')."""
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return 1.0


def retrying(policy: RetryPolicy, call: Callable[[], Any]) -> Any:
    """Run ``call``, retrying Transient failures; after the last try, SourceUnavailable."""
    backoff = wait_exponential(multiplier=policy.base_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Transient) and exc.wait is not None:
            return min(exc.wait, policy.max_wait)
        return float(backoff(state))

    try:
        for attempt in Retrying(stop=stop_after_attempt(policy.attempts), wait=wait, reraise=True,
                                retry=retry_if_exception_type(Transient)):
            with attempt:
                return call()
    except Transient as exc:
        raise SourceUnavailable(f"{exc.message} (after {policy.attempts} tries)") from None
    raise AssertionError("unreachable")  # pragma: no cover


ErrorReader = Callable[[int, Any], str]  # (status, decoded body or None) -> the ERP's own message


def send_json(policy: RetryPolicy, method: str, url: str, headers: dict[str, str], body: Any,
              error_message: ErrorReader) -> Any:
    """One JSON request, retried; answers the decoded body. 401/403 raise AuthFailed, other 4xx AdapterError."""
    return exchange(policy, method, url, headers, body, error_message)[0]


def exchange(policy: RetryPolicy, method: str, url: str, headers: dict[str, str], body: Any,
             error_message: ErrorReader) -> tuple[Any, Message]:
    """As send_json, answering the response's headers too (a session cookie an ERP sets at login)."""
    data = None if body is None else json.dumps(body).encode()

    def once() -> tuple[Any, Message]:
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Accept": "application/json", "User-Agent": USER_AGENT,
            **({"Content-Type": "application/json; charset=utf-8"} if data is not None else {}), **headers})
        try:
            with urllib.request.urlopen(request, timeout=policy.timeout) as response:
                raw, answered = response.read(), response.headers
        except urllib.error.HTTPError as exc:
            _refused(exc, error_message)
        except (http.client.HTTPException, OSError) as exc:  # URLError, resets and timeouts are OSErrors
            raise Transient(f"{method} {url.split('?')[0]}: {exc.__class__.__name__}: {exc}") from None
        try:
            return json.loads(raw), answered
        except ValueError:  # a body cut short by a dropped connection
            raise Transient(f"{method} {url.split('?')[0]}: unreadable JSON answer") from None

    return retrying(policy, once)  # type: ignore[no-any-return]


def _refused(exc: urllib.error.HTTPError, error_message: ErrorReader) -> None:
    status = exc.code
    try:
        decoded = json.loads(exc.read() or b"null")
    except (ValueError, OSError, http.client.HTTPException):
        decoded = None
    message = error_message(status, decoded) or exc.reason or f"HTTP {status}"
    if status == 429 or status == 503:
        raise Transient(f"HTTP {status}: {message}", retry_after(exc.headers.get("Retry-After"))) from None
    if status >= 500:
        raise Transient(f"HTTP {status}: {message}") from None
    if status in (401, 403):
        raise AuthFailed(f"credentials refused (HTTP {status}): {message}") from None
    raise AdapterError(f"HTTP {status}: {message}") from None
