"""Channel adapters: one interface (``send(Outgoing) -> provider message id``) over SMTP, signed
HTTP providers (SMS, push), signed webhooks and the console (development).

A provider error that may pass (5xx, 429, timeouts, refused connections) raises ProviderError and is
retried; one that will not (4xx, a refused recipient) raises PermanentError and dead-letters at once.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from service_runtime.config import env, env_int

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Loyalty-Signature"
TIMESTAMP_HEADER = "X-Loyalty-Timestamp"


class ProviderError(Exception):
    """The provider failed in a way a later attempt may not (retried)."""


class PermanentError(Exception):
    """The provider refused the message for good (not retried)."""


class NoAddress(PermanentError):
    """The member cannot be reached on this channel's app (e.g. not following the official account):
    suppressed like a member without a phone, not dead-lettered."""


@dataclass(frozen=True)
class Outgoing:
    message_id: str
    channel: str
    to: str  # phone (E.164), email address, or member id (push, webhook)
    body: str
    subject: str | None = None
    member_id: str | None = None
    template: str | None = None
    campaign_id: str | None = None
    variables: Mapping[str, object] = field(default_factory=dict)  # vendor templates take these, not the body


class Channel(Protocol):
    name: str

    def send(self, message: Outgoing) -> str: ...


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``timestamp + "." + body``, hex; receivers recompute it and reject old timestamps."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance: float = 300.0) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent (no replays of old bodies)."""
    try:
        age = abs(now - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature.removeprefix("sha256="))


DEV_CONSOLE_FLAG = "NOTIFY_DEV_CONSOLE"


class ConsoleChannel:
    """Development delivery (NOTIFY_DEV_CONSOLE=1 only): logs that a message would go out, never to
    whom or what it says, since logs outlive a member's erasure."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, message: Outgoing) -> str:
        log.warning("DEVELOPMENT DELIVERY CHANNEL (console): %s message %s (%s, member %s) not sent to anyone",
                    self.name, message.message_id, message.template, message.member_id or "none")
        return f"console-{message.message_id}"


class NoProvider:
    """A channel the deployment does not use (NOTIFY_<CHANNEL>_PROVIDER=none): its messages fail for good."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, message: Outgoing) -> str:
        raise PermanentError(f"no provider is configured for {self.name}")


@dataclass
class SmtpChannel:
    """Email over SMTP; security is 'none', 'starttls' or 'ssl'; auth when a user is given."""

    host: str
    port: int
    sender: str
    security: str = "none"
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0
    ca_file: str | None = None  # a private CA for the relay's certificate (default: the system's)
    name: str = "email"

    def send(self, message: Outgoing) -> str:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject or ""
        provider_id = make_msgid(idstring=message.message_id.replace("-", ""))
        mail["Message-ID"] = provider_id
        mail["X-Loyalty-Message-Id"] = message.message_id
        mail.set_content(message.body)
        try:
            smtp: smtplib.SMTP
            if self.security == "ssl":
                smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                        context=ssl.create_default_context(cafile=self.ca_file))
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.user:
                    smtp.login(self.user, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused:
            raise PermanentError("recipient refused") from None  # not which: errors are stored and logged
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:  # 5xx is final in SMTP, 4xx is "try again later"
                raise PermanentError(f"SMTP {exc.smtp_code}") from None
            raise ProviderError(f"SMTP {exc.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ProviderError(f"SMTP: {type(exc).__name__}: {exc}") from None
        return provider_id


@dataclass
class HttpChannel:
    """A provider reached by a signed JSON POST (SMS and push gateways, webhooks). The provider
    answers 2xx with ``{"id": ...}`` (its message id); without one, ours is used."""

    name: str
    url: str
    secret: str
    timeout: float = 10.0
    extra_headers: dict[str, str] = field(default_factory=dict)

    def payload(self, message: Outgoing) -> dict[str, object]:
        return {"message_id": message.message_id, "to": message.to, "subject": message.subject,
                "body": message.body}

    def send(self, message: Outgoing) -> str:
        body = json.dumps(self.payload(message), ensure_ascii=False, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: "sha256=" + sign(self.secret, timestamp, body), **self.extra_headers,
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                raise ProviderError(f"HTTP {exc.code}") from None
            raise PermanentError(f"HTTP {exc.code}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise ProviderError(f"{type(exc).__name__}: {exc}") from None
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        provider_id = answer.get("id") if isinstance(answer, dict) else None
        return str(provider_id or message.message_id)


@dataclass
class WebhookChannel(HttpChannel):
    """A signed event to a receiver of the chain's (its CRM, its app backend)."""

    def payload(self, message: Outgoing) -> dict[str, object]:
        return {"id": message.message_id, "type": "notification", "member_id": message.member_id,
                "template": message.template, "campaign_id": message.campaign_id, "subject": message.subject,
                "text": message.body, "nonce": uuid.uuid4().hex}


def dev_console_enabled() -> bool:
    return env(DEV_CONSOLE_FLAG, "").lower() in ("1", "true", "yes")


def channel_from_env(name: str) -> Channel:
    """The adapter configured for a channel: NOTIFY_<CHANNEL>_PROVIDER = http | smtp | aliyun | tencent |
    wechat (docs/channels-china.md) | none, or console
    (the default) where NOTIFY_DEV_CONSOLE=1 says this is a development platform; refused otherwise."""
    prefix = f"NOTIFY_{name.upper()}_"
    timeout = float(env("NOTIFY_PROVIDER_TIMEOUT", "10"))
    kind = env(prefix + "PROVIDER", "none" if name == "wechat" else "console").lower()  # WeChat: opt in
    if kind == "console":
        if not dev_console_enabled():
            raise ValueError(f"{prefix}PROVIDER is console (the default), a development channel: configure a "
                             f"provider (http, smtp, or none to turn {name} off), or set {DEV_CONSOLE_FLAG}=1 "
                             "on a development platform")
        return ConsoleChannel(name)
    if kind == "none":
        return NoProvider(name)
    if kind == "smtp" and name == "email":
        return SmtpChannel(host=env("NOTIFY_SMTP_HOST", "127.0.0.1"), port=env_int("NOTIFY_SMTP_PORT", 25),
                           sender=env("NOTIFY_SMTP_FROM", "loyalty@localhost"),
                           security=env("NOTIFY_SMTP_SECURITY", "none").lower(),
                           user=env("NOTIFY_SMTP_USER", "") or None, password=env("NOTIFY_SMTP_PASSWORD", "") or None,
                           timeout=timeout, ca_file=env("NOTIFY_SMTP_CA_FILE", "") or None)
    if kind == "http" and name in ("sms", "push", "webhook"):
        url, secret = env(prefix + "URL", ""), env(prefix + "SECRET", "")
        if not url or not secret:
            raise ValueError(f"{prefix}URL and {prefix}SECRET are needed for the http provider")
        cls = WebhookChannel if name == "webhook" else HttpChannel
        return cls(name=name, url=url, secret=secret, timeout=timeout)
    if kind in ("aliyun", "tencent", "wechat"):
        from services.notify.china import vendor_channel  # the vendors' modules build on this one

        return vendor_channel(name, kind, timeout)
    raise ValueError(f"{prefix}PROVIDER={kind!r} is not a provider for {name}")
