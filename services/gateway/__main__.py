"""Run the gateway: ``python -m services.gateway`` (host and port from the environment)."""
import uvicorn

from service_runtime import heap
from service_runtime.config import GatewaySettings
from service_runtime.logs import setup_logging
from service_runtime.tracing import setup_tracing


def main() -> None:
    settings = GatewaySettings.load()
    setup_logging("gateway", settings.log_level)
    setup_tracing("gateway")
    from services.gateway.app import create_app

    app = create_app(settings)
    heap.settle()
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False, proxy_headers=True)


if __name__ == "__main__":
    main()
