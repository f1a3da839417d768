"""What the vendor adapters share: their templates (a vendor sends only templates it approved, by code,
with named or ordered parameters; a deployment maps our template keys to them in configuration) and
one HTTPS call whose network failures are worth retrying."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from service_runtime.config import env
from services.notify.channels import Outgoing, PermanentError, ProviderError


@dataclass(frozen=True)
class VendorTemplate:
    """A vendor's approved template for one of our keys: its id, the parameters it takes (our variable
    names, in the vendor's order), and for WeChat the message kind, the data field of each parameter and
    the page or link it opens."""

    id: str
    params: tuple[str, ...] = ()
    kind: str = "subscribe"  # WeChat: subscribe (mini-program) or template (official account)
    fields: tuple[str, ...] = ()  # WeChat: the data keyword of each param (thing1, time2, ...)
    page: str | None = None

    def values(self, message: Outgoing) -> list[str]:
        """The parameters' values from the message's variables, in order; a missing one is permanent."""
        missing = [p for p in self.params if message.variables.get(p) in (None, "")]
        if missing:
            raise PermanentError(f"vendor template {self.id} needs {', '.join(missing)}")
        return [str(message.variables[p]) for p in self.params]


def templates_from_env(variable: str) -> dict[str, VendorTemplate]:
    """``{"login_code": {"id": "SMS_123", "params": ["code", "minutes"]}, ...}`` from a JSON variable,
    or from a file when it starts with '@'. WeChat entries give ``"data": {"thing1": "name", ...}``."""
    raw = env(variable, "").strip()
    if raw.startswith("@"):
        with open(raw[1:], encoding="utf-8") as handle:
            raw = handle.read()
    try:
        data = json.loads(raw or "{}")
        result = {}
        for key, entry in data.items():
            pairs = list((entry.get("data") or {}).items())
            result[key] = VendorTemplate(
                id=str(entry["id"]), params=tuple(entry.get("params") or [v for _, v in pairs]),
                kind=str(entry.get("kind", "subscribe")), fields=tuple(k for k, _ in pairs), page=entry.get("page"))
        return result
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{variable} is not a JSON object of templates ({type(exc).__name__})") from None


def template_for(templates: dict[str, VendorTemplate], message: Outgoing) -> VendorTemplate:
    template = templates.get(message.template or "")
    if template is None:
        raise PermanentError(f"no vendor template is configured for {message.template}")
    return template


def call(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    """(HTTP status, body); refused connections and timeouts are ProviderError. Vendors answer errors
    with a JSON body too, so an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (configured URL)
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read() or b"")
    except (OSError, urllib.error.URLError) as exc:
        raise ProviderError(f"{type(exc).__name__}") from None


def json_answer(status: int, raw: bytes) -> dict[str, object]:
    """The vendor's JSON answer; a body that is not JSON is a provider failure (5xx) or refusal."""
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if status >= 500 or status == 429:
            raise ProviderError(f"HTTP {status}")
        raise PermanentError(f"HTTP {status}: not JSON")
    return answer
