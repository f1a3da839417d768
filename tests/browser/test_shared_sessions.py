"""Sessions kept in Redis: a login made in one console process works in another started after it
(a restart, a second replica), and a logout in either ends it in both."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext

from tests.browser.conftest import staff_login
from tests.e2e.platform_fixture import ROOT, free_port


@contextmanager
def another_console(platform: dict[str, Any]) -> Iterator[str]:
    """A second console process on its own port, configured as the platform's (same session store)."""
    port = free_port()
    env = {**os.environ, **platform["env"], "CONSOLE_PORT": str(port), "CONSOLE_METRICS_PORT": str(free_port())}
    process = subprocess.Popen([sys.executable, "-m", "services.console"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "no console")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_login_in_one_console_process_works_in_another_and_a_logout_there_ends_it(
        context: BrowserContext, platform: dict[str, Any]) -> None:
    if not platform["env"].get("CONSOLE_SESSION_REDIS_URL"):
        pytest.skip("no Redis: sessions are in each console's memory")
    page = context.new_page()
    staff_login(page, "b.manager")
    with another_console(platform) as other:  # started after the login: a restart or a second replica
        page.goto(other + "/desk")  # a browser sends the same cookie to any port of the host
        assert page.url == other + "/desk"
        assert "manager" in page.locator("header.top").inner_text()
        page.locator("form[action='/logout'] button").click()
        page.wait_for_url(other + "/login")
    page.goto(platform["console"] + "/desk")  # the first process: that session is over there too
    assert page.url.startswith(platform["console"] + "/login")
