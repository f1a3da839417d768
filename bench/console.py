"""Page timings of the staff console and the member page, measured in Debian's Chromium.

    make bench-console [SCALE=small|medium|large]      (20k, 200k or 1,000,000 members imported first)
    BENCH_VAR_DIR=/tmp/kept make bench-console     (keeps the data: a second run measures without importing)

Imports N members (bench/members.py's file) and waits for their events to be consumed, gives one of
them a sale, a reward to see and a login, builds a segment over one store's members and launches a
coupon campaign with a control group over it. Then loads each page PAGE_LOADS times in a fresh tab
(cookies kept: a logged-in user) and reads the browser's own figures (Navigation Timing and Paint
Timing): first paint (first-contentful-paint), time to interactive and the console's answer (the
first byte). The pages are server-rendered
with no script work after load (htmx, deferred, only wires attributes), so "interactive" is taken as
the later of domContentLoadedEventEnd (the deferred script has run: every control works) and the first
paint; all from the start of the navigation. Prints median and p95 of each, and of each API call
behind the staff member page alone and all at once (console_api_*).
"""
from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, sync_playwright

from bench.members import SCALES, wait_for_quiet, write_csv
from bench.platform import bench, percentile, running_platform
from service_runtime import config as cfg

ROOT = Path(__file__).resolve().parents[1]
PAGE_LOADS = 15
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
TIMINGS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const fcp = paint ? paint.startTime : null;
  return {fcp: fcp, tti: Math.max(nav.domContentLoadedEventEnd, fcp || 0), ttfb: nav.responseStart};
}"""


def login(base: str, env: dict[str, str]) -> dict[str, str]:
    token = httpx.post(base + "/v1/auth/token", data={"username": "bench-admin",
                                                      "password": env["BOOTSTRAP_ADMIN_PASSWORD"]}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def import_members(base: str, env: dict[str, str], path: Path) -> None:
    """The file imported (a long import outlives an access token: log in again when it expires)."""
    with path.open("rb") as body:
        job = httpx.post(base + "/v1/members/imports", content=body, timeout=1800, params={"source": "bench"},
                         headers={**login(base, env), "Content-Type": "text/csv"}).json()
    if "status" not in job:
        raise SystemExit(f"import refused: {job}")
    while job["status"] == "running":
        time.sleep(2)
        polled = httpx.get(f"{base}/v1/members/imports/{job['job_id']}", headers=login(base, env))
        if polled.status_code == 200:
            job = polled.json()
    if job["status"] != "done" and not job.get("rows_created"):
        raise SystemExit(f"import failed: {job}")


def members_kept(env: dict[str, str]) -> int:
    """Members already in a kept platform's database (BENCH_VAR_DIR): 0 on a fresh one."""
    parts = urlsplit(cfg.pg_admin_url())
    engine = sa.create_engine(urlunsplit(parts._replace(path="/" + env["DB_NAME_PREFIX"] + "members")),
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM members")).scalar_one())
    finally:
        engine.dispose()


def login_code(env: dict[str, str], phone: str) -> str:
    parts = urlsplit(cfg.pg_admin_url())
    engine = sa.create_engine(urlunsplit(parts._replace(path="/" + env["DB_NAME_PREFIX"] + "gateway")),
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SELECT code FROM dev_code_deliveries WHERE phone = :p ORDER BY id DESC "
                                            "LIMIT 1"), {"p": "+86" + phone}).scalar_one())
    finally:
        engine.dispose()


def setup(base: str, http: httpx.Client, phone: str, env: dict[str, str]) -> dict[str, Any]:
    """A member with a sale, a reward, and a running coupon campaign with a control group; ids."""
    member = http.get("/v1/members", params={"phone": phone}).json()["items"][0]
    for _ in range(60):
        sold = http.post("/v1/points/sales", json={"store": member["registration_store"], "transaction_id":
                                                   "BENCH-" + uuid.uuid4().hex[:10], "member_id": member["member_id"],
                                                   "amount": "200.00", "sold_at": "2026-12-01T10:00:00+08:00"})
        if sold.status_code in (200, 201):
            break
        time.sleep(1)
    template = http.post("/v1/coupons/templates", json={"name": "满100减10", "kind": "threshold", "amount": "10.00",
                                                        "min_spend": "100.00", "valid_days": 30}).json()
    http.post("/v1/rewards", json={"kind": "coupon", "name": "10 元券", "points": 50, "stock": 1000, "active": True,
                                   "template_id": template["template_id"]})
    http.post(f"/v1/members/{member['member_id']}/rewards/exchanges",
              json={"item_id": http.get("/v1/rewards").json()["items"][0]["item_id"], "exchange_key": "bench-1"})
    segment = http.post("/v1/segments", json={"name": "bench store", "rule": {
        "field": "store", "op": "eq", "value": member["registration_store"]}}).json()
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    campaign = http.post("/v1/campaigns", json={
        "name": "bench drop", "type": "coupon_drop", "segment_id": segment["segment_id"], "starts_at": now,
        "ends_at": "2099-01-01T00:00:00Z", "coupon_template_id": template["template_id"],
        "control_share": "0.2"}).json()
    for status in ("scheduled", "running"):
        moved = http.post(f"/v1/campaigns/{campaign['campaign_id']}/status", json={"status": status})
        assert moved.status_code == 200, moved.text
    return {"member": member, "campaign_id": campaign["campaign_id"]}


def measure(browser: Browser, console: str, login: Any, paths: dict[str, str]) -> dict[str, dict[str, list[float]]]:
    context = browser.new_context(base_url=console, viewport={"width": 1280, "height": 900})
    login(context.new_page())
    figures: dict[str, dict[str, list[float]]] = {}
    for name, path in paths.items():
        for _ in range(PAGE_LOADS):
            page: Page = context.new_page()
            response = page.goto(path, wait_until="load")
            assert response is not None and response.status == 200, (path, response and response.status)
            found = page.evaluate(TIMINGS)
            page.close()
            for key in ("fcp", "tti", "ttfb"):
                if found[key] is not None:
                    figures.setdefault(name, {}).setdefault(key, []).append(float(found[key]))
    context.close()
    return figures


# what the staff member page asks the API for (routes_member.member_page), by a short name
MEMBER_PARTS = {"member": "", "account": "/points", "lots": "/points/lots?limit=10",
                "ledger": "/points/history?limit=20", "coupons": "/coupons?limit=20", "consents": "/consents",
                "messages": "/messages?limit=10", "changes": "/history?limit=10"}


def api_parts(base: str, env: dict[str, str], member_id: str) -> dict[str, list[float]]:
    """Each API call behind the staff member page alone, then all of them at once as the page asks:
    where the page's time goes, without the browser or the console."""
    headers = login(base, env)
    found: dict[str, list[float]] = {}
    paths = {name: f"/v1/members/{member_id}{part}" for name, part in MEMBER_PARTS.items()}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        for name, path in paths.items():
            for _ in range(PAGE_LOADS):
                started = time.perf_counter()
                assert http.get(path).status_code == 200, (name, path)
                found.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        with ThreadPoolExecutor(len(MEMBER_PARTS)) as pool:
            for _ in range(PAGE_LOADS):
                started = time.perf_counter()
                list(pool.map(http.get, paths.values()))
                found.setdefault("all_at_once", []).append((time.perf_counter() - started) * 1000)
    return found


def main() -> int:
    scale = os.environ.get("SCALE", "small")
    rows = SCALES[scale]
    subprocess.run(["bash", str(ROOT / "deploy" / "local" / "ensure-browser.sh")], check=True)
    with running_platform("console") as (base, token, env):
        console = f"http://127.0.0.1:{env['CONSOLE_PORT']}"
        var = Path(env["VAR_DIR"])
        path = var / "members.csv"
        sample = write_csv(path, rows)
        print(f"# console benchmark, SCALE={scale}: {rows} members imported first, {PAGE_LOADS} loads a page, "
              f"Chromium headless, {os.cpu_count()} cores, everything on this machine", flush=True)
        if members_kept(env) < rows:  # a kept platform (BENCH_VAR_DIR) has them from its first run
            import_members(base, env, path)
            wait_for_quiet(env)
        with httpx.Client(base_url=base, headers=login(base, env), timeout=60) as http:
            ids = setup(base, http, sample[1], env)
        member = ids["member"]

        def staff(page: Page) -> None:
            page.goto("/login")
            page.fill("#username", "bench-admin")
            page.fill("#password", env["BOOTSTRAP_ADMIN_PASSWORD"])
            page.click("main form button[type=submit]")
            page.wait_for_url(re.compile(".*/desk$"))

        def member_login(page: Page) -> None:
            page.goto("/m/login")
            page.fill("#phone", sample[1])
            page.click("main form button[type=submit]")
            page.fill("#code", login_code(env, sample[1]))
            page.click("main form button[type=submit]")
            page.wait_for_url(re.compile(".*/m/$"))

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            figures = measure(browser, console, member_login, {"member_page": "/m/"})
            figures.update(measure(browser, console, staff, {
                "campaign_results": f"/campaigns/{ids['campaign_id']}",
                "desk_member": f"/members/{member['member_id']}",
                "desk_search": f"/desk?by=phone&q={sample[1]}",
                "desk_browse_store": "/desk?by=name&q=Member%201",  # one member in nine matches
                "desk_browse_rare": f"/desk?by=name&q=Member%20{rows - 1}"}))  # one member: the last registered
            browser.close()
        for name, values in figures.items():
            for key, label in (("fcp", "first_paint"), ("tti", "interactive"), ("ttfb", "server")):
                if key in values:
                    bench(f"console_{name}_{label}_p50_ms", statistics.median(values[key]), "ms")
                    bench(f"console_{name}_{label}_p95_ms", percentile(values[key], 0.95), "ms")
        for name, took in api_parts(base, env, member["member_id"]).items():
            bench(f"console_api_{name}_p50_ms", statistics.median(took), "ms")
            bench(f"console_api_{name}_p95_ms", percentile(took, 0.95), "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
