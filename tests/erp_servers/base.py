"""An HTTP server in a thread on a free port, with the faults the adapters must ride out: 429 with
Retry-After, a connection dropped half-way through a page, and a server that stays down."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


class FaultyServer:
    """Subclasses answer ``handle``; ``data`` tells whether a request reads records (the faults aim at those)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.data_requests = 0
        self._rate_limited = 0
        self._retry_after = "1"
        self._drop_next = 0
        self._down_after: int | None = None
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.requests.append((self.command, self.path))
                status, headers, payload = owner.answer(self.command, self.path, dict(self.headers), body)
                if status == -1:  # die mid-page: promise the whole body, send part of it, hang up
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: max(1, len(payload) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve
            do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    # -- faults ------------------------------------------------------------------------------------
    def rate_limit(self, times: int, retry_after: str = "1") -> None:
        """The next ``times`` record requests answer 429 Too Many Requests with Retry-After."""
        self._rate_limited, self._retry_after = times, retry_after

    def drop_next(self, times: int) -> None:
        """The next ``times`` record requests die half-way through their body."""
        self._drop_next = times

    def die_after(self, served: int | None) -> None:
        """After ``served`` more record requests, every one dies half-way (None: healthy again)."""
        self._down_after = None if served is None else self.data_requests + served

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        status, out_headers, payload = self.handle(method, path, headers, body)
        if not self.data(method, path, body) or status != 200:
            return status, out_headers, payload
        with self._lock:
            if self._rate_limited > 0:
                self._rate_limited -= 1
                return 429, {"Retry-After": self._retry_after, "Content-Type": "text/plain"}, b"Too Many Requests"
            if self._drop_next > 0:
                self._drop_next -= 1
                return -1, {}, payload
            if self._down_after is not None and self.data_requests >= self._down_after:
                return -1, {}, payload
            self.data_requests += 1
        return status, out_headers, payload

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError

    def data(self, method: str, path: str, body: bytes) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
