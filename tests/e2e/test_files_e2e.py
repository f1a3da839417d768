"""End to end: moving a chain onto a platform started as `make run` starts it, its catalog pointed at
a private OpenSSH server. Members come as an upload through the API; opening balances as a file on
the SFTP drop, approved by a second admin and applied; historical sales as two files, one earning
(accrual) and one history only. The balances are the opening ones plus what the accrual sales
earned, the opening lots keep their expiry, and the history sale earned nothing."""
from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.platform_fixture import running_platform
from tests.service.files_support import csv_text
from tests.service.sftp_support import Sftp, private_sshd

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    var = tmp_path_factory.mktemp("files")
    with private_sshd(tmp_path_factory.mktemp("files-sftp") / "server") as sshd, \
            running_platform(var, "files", **sshd.env("legacy"), FILES_POLL_SECONDS="1") as running:
        password = (var / "secrets" / "admin-password").read_text().strip()
        token = httpx.post(running["base"] + "/v1/auth/token", data={"username": "admin", "password": password}
                           ).json()["access_token"]
        with httpx.Client(base_url=running["base"], timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
            yield {**running, "http": http, "sftp": sshd}


def _second_admin(platform: dict[str, Any]) -> httpx.Client:
    name, password = f"admin-{uuid.uuid4().hex[:6]}", "a second admin's long password"
    created = platform["http"].post("/v1/staff", json={"username": name, "password": password, "roles": ["admin"]})
    assert created.status_code == 201, created.text
    token = httpx.post(platform["base"] + "/v1/auth/token", data={"username": name, "password": password}
                       ).json()["access_token"]
    return httpx.Client(base_url=platform["base"], timeout=60, headers={"Authorization": f"Bearer {token}"})


def _done(http: httpx.Client, name: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = http.get("/v1/files/runs", params={"limit": 100}).json()["items"]
        run = next((r for r in runs if r["name"] == name and r["status"] in ("done", "failed", "skipped")), None)
        if run is not None:
            return dict(run)
        time.sleep(0.5)
    pytest.fail(f"the run of {name} did not finish in {timeout} s")


def _drop(sftp: Sftp, name: str, header: list[str], rows: list[list[Any]]) -> None:
    part = sftp.drop / f".{name}.part"  # written under a dot name: the scan never sees half a file
    part.write_text(csv_text(header, rows))
    part.rename(sftp.drop / name)


def test_a_legacy_program_moves_over_with_the_right_balances(platform):
    http, sftp = platform["http"], platform["sftp"]
    tag = uuid.uuid4().hex[:6]
    phones = [f"139{uuid.uuid4().int % 10**8:08d}" for _ in range(2)]
    upload = http.post("/v1/files/uploads", params={"kind": "members", "name": f"members-{tag}.csv"},
                       headers={"Content-Type": "text/csv"},
                       content=csv_text(["external_id", "name", "phone", "registration_store"],
                                        [[f"L{tag}-1", "Zhang San", phones[0], "SH-001"],
                                         [f"L{tag}-2", "Li Si", phones[1], "SH-001"]]).encode())
    assert upload.status_code == 202, upload.text
    assert _done(http, f"members-{tag}.csv")["rows_ok"] == 2
    members = [http.get("/v1/members", params={"phone": p}).json()["items"][0] for p in phones]
    (a, number_a), (b, number_b) = ((m["member_id"], m["member_number"]) for m in members)

    _drop(sftp, f"balances-{tag}.csv", ["row_key", "member_number", "points", "expires_at", "store"],
          [[f"{tag}-1", number_a, "500", "2030-06-30", "SH-001"], [f"{tag}-2", number_b, "800", "2031-01-31", ""]])
    staged = _done(http, f"balances-{tag}.csv")
    assert (staged["status"], staged["rows_ok"]) == ("done", 2)
    import_id = staged["target_ref"]
    with _second_admin(platform) as other:
        assert other.post(f"/v1/migrations/{import_id}/approve").json()["status"] == "approved"
    applied = http.post(f"/v1/migrations/{import_id}/apply").json()
    assert (applied["status"], applied["points_total"]) == ("applied", 1300)

    sold = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    header = ["store", "transaction_id", "member_number", "amount", "currency", "sold_at"]
    _drop(sftp, f"sales.accrual-{tag}.csv", header,
          [["SH-001", f"A{tag}-1", number_a, "100.00", "CNY", sold], ["SH-001", f"A{tag}-2", number_a, "50.00",
                                                                        "CNY", sold]])
    _drop(sftp, f"sales-{tag}.csv", header, [["SH-001", f"H{tag}-1", number_b, "80.00", "CNY", sold]])
    assert _done(http, f"sales.accrual-{tag}.csv")["rows_ok"] == 2
    assert _done(http, f"sales-{tag}.csv")["rows_ok"] == 1

    account_a = http.get(f"/v1/members/{a}/points").json()
    history_a = http.get(f"/v1/members/{a}/points/history", params={"limit": 50}).json()["items"]
    earned = [e["points"] for e in history_a if e["kind"] == "accrual"]
    assert len(earned) == 2 and all(p > 0 for p in earned)
    assert account_a["balance"] == 500 + sum(earned)
    account_b = http.get(f"/v1/members/{b}/points").json()
    assert account_b["balance"] == 800  # the history sale earned nothing
    assert [e["kind"] for e in http.get(f"/v1/members/{b}/points/history").json()["items"]] == ["migration"]
    assert account_b["expiring"]["points"] == 800
    assert account_b["expiring"]["expires_at"].startswith("2031-01-31T15:59:59")  # the end of that day in Shanghai
