"""Real delivery endpoints for notify tests: an aiosmtpd SMTP server process writing a Maildir, and an
HTTP provider stub of ours (http.server in a thread) that records requests and fails when told to."""
from __future__ import annotations

import base64
import json
import mailbox
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from contracts.envelope import EventPayload
from services.notify.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.callers import entrypoint_hook
from tests.ports import free_port

SECRET = "test-provider-secret"


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int
    raw: bytes
    at: float


class ProviderStub:
    """An SMS/push/webhook provider: answers 200 {"id": ...}, or ``fail_next(n)`` times 500, or always 500."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._fail_next = 0
        self._always: int | None = None
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stub._lock:
                    if stub._always is not None:
                        status = stub._always
                    elif stub._fail_next > 0:
                        stub._fail_next -= 1
                        status = 500
                    else:
                        status = 200
                    provider_id = f"prov-{uuid.uuid4().hex[:12]}"
                    stub.requests.append(Recorded(self.path, dict(self.headers.items()), json.loads(raw or b"{}"),
                                                  status, raw, time.time()))
                answer = json.dumps({"id": provider_id} if status == 200 else {"error": "down"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def fail_next(self, n: int) -> None:
        with self._lock:
            self._fail_next = n

    def always_fail(self, status: int | None = 500) -> None:
        with self._lock:
            self._always = status

    def ok(self) -> list[Recorded]:
        return [r for r in self.requests if r.status == 200]

    def for_message(self, message_id: str) -> list[Recorded]:
        return [r for r in self.requests if r.body.get("message_id", r.body.get("id")) == message_id]

    def signed_correctly(self, record: Recorded) -> bool:
        return verify(SECRET, record.headers[TIMESTAMP_HEADER], record.raw, record.headers[SIGNATURE_HEADER],
                      time.time())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpServer:
    """aiosmtpd as a separate process (its asyncio loop stays out of this green test process)."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls=(certfile, keyfile)``: STARTTLS offered and required before mail is accepted."""
        self.dir = tempfile.mkdtemp(prefix="notify-mail-")
        self.port = free_port()
        options = ["--tlscert", tls[0], "--tlskey", tls[1]] if tls else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}", *options, "-c",
             "aiosmtpd.handlers.Mailbox", os.path.join(self.dir, "Maildir")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("aiosmtpd did not start")

    def messages(self) -> list[Message]:
        path = os.path.join(self.dir, "Maildir")
        if not os.path.isdir(os.path.join(path, "new")):
            return []
        return list(mailbox.Maildir(path, create=False))

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@contextmanager
def endpoints() -> Iterator[tuple[SmtpServer, ProviderStub, ProviderStub, ProviderStub]]:
    smtp, sms, push, hook = SmtpServer(), ProviderStub(), ProviderStub(), ProviderStub()
    try:
        yield smtp, sms, push, hook
    finally:
        for closer in (sms.close, push.close, hook.close, smtp.close):
            closer()


def notify_env(smtp: SmtpServer, sms: ProviderStub, push: ProviderStub, hook: ProviderStub) -> dict[str, str]:
    return {
        "NOTIFY_PHONE_HASH_KEY": base64.b64encode(b"notify-test-phone-hash-key-32byt").decode(),
        "NOTIFY_EMAIL_PROVIDER": "smtp", "NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(smtp.port),
        "NOTIFY_SMTP_FROM": "loyalty@example.test",
        "NOTIFY_SMS_PROVIDER": "http", "NOTIFY_SMS_URL": sms.url, "NOTIFY_SMS_SECRET": SECRET,
        "NOTIFY_PUSH_PROVIDER": "http", "NOTIFY_PUSH_URL": push.url, "NOTIFY_PUSH_SECRET": SECRET,
        "NOTIFY_WEBHOOK_PROVIDER": "http", "NOTIFY_WEBHOOK_URL": hook.url, "NOTIFY_WEBHOOK_SECRET": SECRET,
        "NOTIFY_QUIET_HOURS": "off", "NOTIFY_POLL_SECONDS": "0.2", "NOTIFY_RETRY_INITIAL_SECONDS": "0.05",
        "NOTIFY_RETRY_MAX_SECONDS": "0.2", "NOTIFY_MAX_ATTEMPTS": "4", "NOTIFY_CAP_PER_DAY": "2",
        "NOTIFY_CAP_PER_WEEK": "10", "NOTIFY_BREAKER_THRESHOLD": "50", "NOTIFY_CONTACT_TIMEOUT_SECONDS": "5",
    }


def deliver(container: Any, handler: str, payload: EventPayload, envelope: dict[str, Any] | None = None) -> None:
    with entrypoint_hook(container, handler) as handle:
        handle(envelope or payload.envelope().model_dump(mode="json"))


def call(container: Any, method: str, *args: Any, caller: str | None = None, **kwargs: Any) -> Any:
    context = {"caller": caller} if caller else None
    with entrypoint_hook(container, method, context_data=context) as hook:
        return hook(*args, **kwargs)


def now() -> datetime:
    return datetime.now(UTC)
