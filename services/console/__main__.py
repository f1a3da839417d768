"""Run the console: python -m services.console (CONSOLE_HOST, CONSOLE_PORT, CONSOLE_GATEWAY_URL,
CONSOLE_METRICS_PORT)."""
from __future__ import annotations

import uvicorn

from services.console import metrics
from services.console.app import create_app
from services.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings.load()
    if settings.metrics_port is not None:
        metrics.serve(settings.host, settings.metrics_port)
    # proxy_headers: behind a proxy on this host the browser's address is the client (rate limits, audit)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False,
                proxy_headers=True)


if __name__ == "__main__":
    main()
