"""Run one platform service: ``python -m service_runtime.runner members``.

Monkey-patches eventlet before anything else is imported (as ``nameko run`` does), then
configures logging, tracing and Nameko from the environment and runs the service until
SIGTERM or SIGINT.
"""
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # must precede every other import

import errno  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import nameko  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from service_runtime import health, heap  # noqa: E402
from service_runtime.config import ServiceSettings, redact_url  # noqa: E402
from service_runtime.logs import setup_logging  # noqa: E402
from service_runtime.registry import SERVICE_CLASSES, load_service  # noqa: E402
from service_runtime.tracing import setup_tracing  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SERVICE_CLASSES:
        print(f"usage: python -m service_runtime.runner {{{','.join(SERVICE_CLASSES)}}}", file=sys.stderr)
        return 2
    name = argv[0]
    settings = ServiceSettings.load(name)
    setup_logging(name, settings.log_level)
    setup_tracing(name)
    nameko.config.setup(settings.nameko_config())
    log = logging.getLogger("service_runtime.runner")

    runner = ServiceRunner()
    runner.add_service(load_service(name))

    def shutdown(signum: int, frame: object) -> None:
        eventlet.spawn_n(runner.stop)  # signal handlers cannot use eventlet primitives

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log.info("starting %s (broker %s, database %s, %d workers)", name,
             redact_url(settings.amqp_uri), redact_url(settings.database_url), settings.max_workers)
    runner.start()
    heap.settle()
    eventlet.spawn_n(health.watchdog, eventlet.sleep)  # a dead consumer ends the process: it is restarted
    log.info("%s started", name)
    waiter = eventlet.spawn(runner.wait)
    while True:
        try:
            waiter.wait()
            break
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise
    log.info("%s stopped", name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
