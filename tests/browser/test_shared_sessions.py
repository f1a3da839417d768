"""Sessions kept in Redis: a login made in one console process works in another started after it
(a restart, a second replica), and a logout in either ends it in both."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext

from services.console.session_backends import RedisBackend
from services.console.sessions import SessionStore
from tests.browser.conftest import SESSION_REDIS_URL, redis_answers, staff_login
from tests.e2e.platform_fixture import ROOT
from tests.ports import free_port


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


def test_in_redis_a_request_keeps_others_changes_and_a_refresh_sees_the_one_before() -> None:
    """Two console processes (two stores on one Redis): what each request changed survives the other,
    a dropped session is not brought back by a late write, and a refresh waits for one under way
    elsewhere and then holds its tokens."""
    if not redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379")

    async def scenario() -> None:
        one = SessionStore(60, RedisBackend(SESSION_REDIS_URL, 1.0), prefix=f"test:console:{uuid.uuid4().hex}:")
        two = SessionStore(60, RedisBackend(SESSION_REDIS_URL, 1.0), prefix=one.prefix)
        made = one.new()
        made.kind, made.access_token, made.refresh_token = "staff", "a1", "r1"
        await one.save(made)
        here, there = await one.get(made.sid), await two.get(made.sid)
        assert here is not None and there is not None and there.access_token == "a1"
        here.lang, there.notices = "en", ["saved"]
        await one.save(here)
        await two.save(there)
        both = await one.get(made.sid)
        assert both is not None and (both.lang, both.notices) == ("en", ["saved"])

        order: list[str] = []

        async def refresh_in_one() -> None:
            async with one.refreshing(here):
                order.append("one refreshing")
                await asyncio.sleep(0.3)
                here.access_token, here.refresh_token = "a2", "r2"

        async def refresh_in_two() -> None:
            await asyncio.sleep(0.1)
            async with two.refreshing(there):  # waits for one's lock, then reads what one stored
                order.append(f"two sees {there.access_token} {there.refresh_token}")

        await asyncio.gather(refresh_in_one(), refresh_in_two())
        assert order == ["one refreshing", "two sees a2 r2"]

        await one.drop(made)
        there.notices = ["late"]
        await two.save(there)  # still running when the session was dropped (logout in another tab)
        assert await one.get(made.sid) is None
        await one.close()
        await two.close()

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API keeps an event loop running in this thread
        pool.submit(asyncio.run, scenario()).result(timeout=60)
