"""A platform as `make run` starts it (console included), Debian's Chromium driven by Playwright,
staff of each role and a reward to exchange, all set up through the API."""
from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from service_runtime import config as cfg
from tests.e2e.platform_fixture import ROOT, running_platform

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR", ROOT / "var" / "artifacts" / "screenshots"))
PASSWORD = "browser-test-" + secrets.token_urlsafe(12)
STAFF = {"clerk": ["SH-001"], "manager": ["SH-001"], "marketer": None, "auditor": None}
SESSION_REDIS_URL = os.environ.get("TEST_CONSOLE_REDIS_URL", "redis://127.0.0.1:6379/10")  # not DB 0: others use it


def redis_answers() -> bool:
    try:
        with socket.create_connection((urlsplit(SESSION_REDIS_URL).hostname or "127.0.0.1",
                                       urlsplit(SESSION_REDIS_URL).port or 6379), timeout=1):
            return True
    except OSError:
        return False



@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    subprocess.run(["bash", str(ROOT / "deploy" / "local" / "ensure-browser.sh")], check=True)
    var = tmp_path_factory.mktemp("browser")
    shared = {"CONSOLE_SESSION_REDIS_URL": SESSION_REDIS_URL} if redis_answers() else {}  # as on Kubernetes
    with running_platform(var, "browser", **shared) as running:
        password = (var / "secrets" / "admin-password").read_text().strip()
        token = httpx.post(running["base"] + "/v1/auth/token", data={"username": "admin", "password": password}
                           ).json()["access_token"]
        console = f"http://127.0.0.1:{running['env']['CONSOLE_PORT']}"
        assert f"Console:  {console}" in running["started"] and f"Member page: {console}/m/" in running["started"]
        with httpx.Client(base_url=running["base"], timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
            for role, stores in STAFF.items():
                made = http.post("/v1/staff", json={"username": f"b.{role}", "password": PASSWORD, "roles": [role],
                                                    "stores": stores})
                assert made.status_code == 201, made.text
            yield {**running, "http": http, "console": console, "admin_password": password}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Debian's Chromium, never a browser Playwright downloads
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def context(browser: Browser, platform: dict[str, Any]) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=platform["console"], locale="en-US", viewport={"width": 1280, "height": 900})
    yield made
    made.close()


@pytest.fixture()
def phone_context(browser: Browser, platform: dict[str, Any]) -> Iterator[BrowserContext]:
    made = browser.new_context(base_url=platform["console"], locale="zh-CN", viewport={"width": 390, "height": 844},
                               is_mobile=True, has_touch=True)
    yield made
    made.close()


def shot(page: Page, name: str) -> None:
    """A screenshot of the whole page, kept as a test artifact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def staff_login(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/desk$"))


def csrf_of(page: Page) -> str:
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def register_member(platform: dict[str, Any], name: str, store: str = "SH-001") -> dict[str, Any]:
    phone = "137" + f"{uuid.uuid4().int % 10**8:08d}"
    made = platform["http"].post("/v1/members", json={"name": name, "phone": phone, "registration_store": store})
    assert made.status_code == 201, made.text
    return {**made.json()["member"], "plain_phone": phone}


def sale(platform: dict[str, Any], member_id: str, amount: str) -> dict[str, Any]:
    """A sale at SH-001 (points at the program's base rate), as a till would send it."""
    body = {"store": "SH-001", "terminal": "T1", "transaction_id": "B-" + uuid.uuid4().hex[:12], "member_id": member_id,
            "amount": amount, "sold_at": "2026-12-01T10:30:00+08:00"}
    for _ in range(40):  # points opens the account from member.registered: a moment after the registration
        made = platform["http"].post("/v1/points/sales", json=body)
        if made.status_code in (200, 201):
            return dict(made.json())
    raise AssertionError(made.text)


def login_code(platform: dict[str, Any], phone: str) -> str:
    """The one-time code from the development delivery channel (the gateway's dev_code_deliveries)."""
    parts = urlsplit(cfg.pg_admin_url())
    url = urlunsplit(parts._replace(path="/" + platform["env"]["DB_NAME_PREFIX"] + "gateway"))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT code FROM dev_code_deliveries WHERE phone = :p ORDER BY id DESC "
                                            "LIMIT 1"), {"p": "+86" + phone}).scalar_one())
    finally:
        engine.dispose()
