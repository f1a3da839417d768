"""Fixtures shared by every test level.

Tests never touch the databases or the virtual host that `make run` uses: they run on
databases prefixed ``loyalty_test_`` and the AMQP virtual host ``loyalty_test``, both
recreated at the start of a session. Two checkouts running tests at once on one machine set
``LOYALTY_TEST_TAG`` to different words so they get their own databases and vhosts.
"""
from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

# Property tests check results, never speed: on a busy two-core host (the suite runs two lanes at
# once) generating examples can take longer than Hypothesis' default deadline and health checks.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

_TAG = "".join(ch for ch in os.environ.get("LOYALTY_TEST_TAG", "").lower() if ch.isalnum())
TEST_VHOST = "loyalty_test" + (f"_{_TAG}" if _TAG else "")
TEST_DB_PREFIX = TEST_VHOST + "_"
E2E_VHOST = "loyalty_e2e" + (f"_{_TAG}" if _TAG else "")
# fixed test-only keys (32 bytes each), never used outside the test databases
TEST_KEY_OLD = base64.b64encode(b"old-test-key-0123456789abcdefghi").decode()
TEST_KEY_NEW = base64.b64encode(b"new-test-key-0123456789abcdefghi").decode()
TEST_INDEX_KEY = base64.b64encode(b"index-test-key-0123456789abcdefg").decode()
TEST_CALLER_KEY = "caller-test-key-" + "c" * 32  # signs the callers of RPCs (tests/callers.py)


@pytest.fixture(scope="session")
def platform_env() -> Iterator[dict[str, str]]:
    """Environment for in-process service tests, with fresh databases and vhost."""
    from service_runtime import bootstrap

    overrides = {
        "DB_NAME_PREFIX": TEST_DB_PREFIX,
        "AMQP_URI": f"amqp://guest:guest@127.0.0.1:5672/{TEST_VHOST}",
        "OTEL_TRACES_EXPORTER": "none",
        "OUTBOX_POLL_SECONDS": "0.2",
        "MEMBERS_ENCRYPTION_KEYS": "test-old=" + TEST_KEY_OLD + ",test-new=" + TEST_KEY_NEW,
        "MEMBERS_ACTIVE_KEY_ID": "test-new",
        "MEMBERS_BLIND_INDEX_KEY": TEST_INDEX_KEY,
        "CALLER_SIGNING_KEY": TEST_CALLER_KEY,
        "FEED_SECRET_KEYS": "test-feed=" + TEST_KEY_NEW,
    }
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    bootstrap.empty_vhost(overrides["AMQP_URI"])
    bootstrap.bootstrap(drop=True)
    try:
        yield overrides
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
