"""The console's settings, each overridable by an environment variable (CONSOLE_*)."""
from __future__ import annotations

from dataclasses import dataclass

from service_runtime.config import env, env_int


@dataclass(frozen=True)
class ConsoleSettings:
    host: str
    port: int
    gateway_url: str  # where the console calls the API (server side)
    public_url: str  # what browsers are told
    secure_cookies: bool  # Secure flag: on when the public URL is https
    session_idle_seconds: int
    api_timeout_seconds: float
    session_redis_url: str = ""  # sessions shared by every console process; empty: this process's memory
    session_redis_timeout_seconds: float = 0.5
    metrics_port: int | None = None  # Prometheus text on its own port; None: not served

    @classmethod
    def load(cls) -> "ConsoleSettings":
        host = env("CONSOLE_HOST", env("GATEWAY_HOST", "127.0.0.1"))
        port = env_int("CONSOLE_PORT", 8081)
        gateway_default = f"http://{env('GATEWAY_HOST', '127.0.0.1')}:{env_int('GATEWAY_PORT', 8080)}"
        gateway = env("CONSOLE_GATEWAY_URL", gateway_default)
        public = env("CONSOLE_PUBLIC_URL", f"http://{host}:{port}")
        metrics = env_int("CONSOLE_METRICS_PORT", 9111)  # negative: no metrics port
        return cls(host=host, port=port, gateway_url=gateway.rstrip("/"), public_url=public.rstrip("/"),
                   secure_cookies=public.startswith("https://"),
                   session_idle_seconds=env_int("CONSOLE_SESSION_IDLE_SECONDS", 8 * 3600),
                   api_timeout_seconds=float(env("CONSOLE_API_TIMEOUT_SECONDS", "15")),
                   session_redis_url=env("CONSOLE_SESSION_REDIS_URL", ""),
                   session_redis_timeout_seconds=env_int("CONSOLE_SESSION_REDIS_TIMEOUT_MS", 500) / 1000,
                   metrics_port=None if metrics < 0 else metrics)
