"""pytest plugin for tests that run Nameko containers in the test process.

Loaded with ``-p tests.green``: monkey-patches eventlet before pytest imports any test
module (Nameko services need a green process; patching inside conftest.py is too late).
It also provides the ``start_service`` fixture.
"""
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402


def pytest_load_initial_conftests() -> None:
    eventlet.monkey_patch()


@pytest.fixture
def start_service(platform_env: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """Start a service container in this process on the real broker and database.

    ``start_service("members", outbox_relay=False)``: keyword arguments override the
    service's settings; ``service_cls=`` runs another class under that service's settings.
    """
    import nameko
    from nameko.containers import ServiceContainer

    from service_runtime.config import ServiceSettings
    from service_runtime.registry import load_service

    containers: list[Any] = []
    all_settings: dict[str, ServiceSettings] = {}

    def start(name: str, service_cls: type | None = None, **overrides: Any) -> Any:
        settings = replace(ServiceSettings.load(name), metrics_port=None, **overrides)
        all_settings[name] = settings
        nameko.config.setup({**settings.nameko_config(), "SERVICE_SETTINGS": dict(all_settings)})
        container = ServiceContainer(service_cls or load_service(name))
        container.start()
        containers.append(container)
        return container

    yield start
    for container in reversed(containers):
        if not container._died.ready() and container.started:
            container.stop()
    nameko.config.setup({})
