"""Member imports survive their gateway: a runner stopped mid-way (as a crash would, or by a
shutdown) leaves a job another runner resumes from its saved progress, on the same gateway
database, with the real members service behind the real broker; every row is imported once."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.gateway import import_jobs, import_runner
from services.gateway.app import create_app
from tests.gateway.conftest import bearer, gateway_settings, make_staff, staff_token
from tests.helpers import query, wait_for

ROOT = Path(__file__).resolve().parents[2]
ROWS = 3000


@pytest.fixture(scope="module")
def members_service(platform_env, tmp_path_factory):
    """The members service as its own process on the test database and virtual host."""
    env = {**os.environ, "MEMBERS_METRICS_PORT": "-1", "OUTBOX_RELAY_ENABLED": "false"}
    log = open(tmp_path_factory.mktemp("members") / "members.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "service_runtime.runner", "members"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    yield process
    log.close()
    process.terminate()
    process.wait(timeout=30)


def _csv() -> bytes:
    base = uuid.uuid4().int % 10**8
    lines = ["external_id,name,phone"] + [f"R-{i},Resume {i},139{(base + i) % 10**8:08d}" for i in range(ROWS)]
    return ("\r\n".join(lines) + "\r\n").encode()


def _members_answer(client: TestClient) -> bool:
    async def ping() -> bool:
        try:
            await client.app.state.services.client.call("members", "ping", timeout=2)
            return True
        except Exception:  # not started yet
            return False

    return client.portal.call(ping)


@pytest.mark.parametrize("stop", ["crash", "shutdown"])
def test_an_import_resumes_after_its_gateway_stops_and_imports_each_row_once(members_service, engine, monkeypatch,
                                                                               stop):
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 100)  # 30 batches: room to stop in the middle
    monkeypatch.setattr(import_runner, "IN_FLIGHT", 2)
    settings = gateway_settings(amqp_uri=os.environ["AMQP_URI"], import_runner=True, import_lease_seconds=2,
                                rpc_timeout_seconds=10)
    row, _ = make_staff(engine, ["admin"])
    admin = bearer(staff_token(row))
    with TestClient(create_app(settings), raise_server_exceptions=False) as first:
        wait_for(lambda: _members_answer(first), timeout=60, message="members service answering")
        started = first.post(f"/v1/members/imports?source=resume{stop}", content=_csv(),
                             headers={**admin, "Content-Type": "text/csv"})
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        wait_for(lambda: import_jobs.job(engine, job_id).next_batch >= 3, timeout=60, message="3 batches in")
        if stop == "crash":  # the runner dies holding the job: its lease has to run out first
            first.portal.call(first.app.state.imports.kill)
    halfway = import_jobs.job(engine, job_id)
    assert halfway.status == "pending" and 3 <= halfway.next_batch < ROWS // 100
    assert (halfway.owner is None) == (stop == "shutdown")

    with TestClient(create_app(settings), raise_server_exceptions=False) as second:
        wait_for(lambda: import_jobs.job(engine, job_id).status != "pending", timeout=120, message="import done")
        finished = import_jobs.job(engine, job_id)
        assert (finished.status, finished.next_batch, finished.attempts) == ("done", ROWS // 100, 2)
        status = second.get(f"/v1/members/imports/{job_id}", headers=admin).json()
    assert (status["status"], status["rows_total"], status["rows_created"], status["rows_existing"],
            status["rows_failed"]) == ("done", ROWS, ROWS, 0, 0)
    lines = query("members", "SELECT import_line, count(*) AS n FROM members WHERE import_job = :job "
                             "GROUP BY import_line", job=job_id)
    assert len(lines) == ROWS and {r.n for r in lines} == {1}  # every row once, none twice
    assert query("gateway", "SELECT count(*) AS n FROM import_job_chunks WHERE job_id = :job", job=job_id)[0].n == 0
