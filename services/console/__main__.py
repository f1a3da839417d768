"""Run the console: python -m services.console (CONSOLE_HOST, CONSOLE_PORT, CONSOLE_GATEWAY_URL)."""
from __future__ import annotations

import uvicorn

from services.console.app import create_app
from services.console.settings import ConsoleSettings


def main() -> None:
    settings = ConsoleSettings.load()
    # proxy_headers: behind a proxy on this host the browser's address is the client (rate limits, audit)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False,
                proxy_headers=True)


if __name__ == "__main__":
    main()
