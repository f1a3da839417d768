"""The restore drill: back up a running platform, write more, restore into an empty set of
databases, and check what came back: ledger sums, the audit chain, a member found by phone with
the backed-up keys, and nothing written after the backup."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from service_runtime import config as cfg
from services.gateway.audit import verify
from services.members.crypto import FieldCipher
from services.members.domain import normalize_phone
from tests.helpers import wait_for
from tests.ops.conftest import ROOT

pytestmark = pytest.mark.e2e


def _url(prefix: str, service: str) -> str:
    return urlunsplit(urlsplit(cfg.pg_admin_url())._replace(path="/" + prefix + service))


def _scalar(prefix: str, service: str, sql: str, **params: object) -> Any:
    engine = sa.create_engine(_url(prefix, service), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def _register(http: Any, phone: str) -> str:
    created = http.post("/v1/members", json={"name": "Drill Member", "phone": phone, "channel": "pos"})
    assert created.status_code == 201, created.text
    return str(created.json()["member"]["member_id"])


def _drop(prefix: str) -> None:
    admin = sa.create_engine(cfg.pg_admin_url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        for service in cfg.DATABASES:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{prefix}{service}" WITH (FORCE)'))
    admin.dispose()


def test_backup_then_restore_into_an_empty_server(ops_platform: dict[str, Any], tmp_path: Path) -> None:
    http, env = ops_platform["http"], ops_platform["env"]
    live = env["DB_NAME_PREFIX"]
    phone = "137" + str(uuid.uuid4().int)[:8]
    member_id = _register(http, phone)
    wait_for(lambda: _scalar(live, "points", "SELECT count(*) FROM accounts WHERE member_id = :m", m=member_id),
             timeout=30, message="the member's points account")
    wait_for(lambda: all(_scalar(live, s, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
                         for s in cfg.SERVICES), timeout=30, message="every outbox published")
    expected = {
        "members": _scalar(live, "members", "SELECT count(*) FROM members"),
        "ledger": _scalar(live, "points", "SELECT COALESCE(sum(delta), 0) FROM ledger"),
        "balances": _scalar(live, "points", "SELECT COALESCE(sum(balance), 0) FROM accounts"),
        "audit": _scalar(live, "gateway", "SELECT count(*) FROM audit_log"),
    }
    made = subprocess.run([sys.executable, "-m", "service_runtime.backup", "create", "--out", str(tmp_path / "b")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert oct((tmp_path / "b" / "secrets.json").stat().st_mode & 0o777) == "0o600"
    after = _register(http, "137" + str(uuid.uuid4().int)[:8])  # written after the backup: must not come back

    restored = live + "restored_"
    _drop(restored)
    try:
        back = subprocess.run([sys.executable, "-m", "service_runtime.backup", "restore", "--from",
                               str(tmp_path / "b"), "--db-prefix", restored], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert back.returncode == 0, back.stderr
        again = subprocess.run([sys.executable, "-m", "service_runtime.backup", "restore", "--from",
                                str(tmp_path / "b"), "--db-prefix", restored], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode != 0 and "exists" in again.stderr  # never over a database in use

        assert _scalar(restored, "members", "SELECT count(*) FROM members") == expected["members"]
        assert _scalar(restored, "points", "SELECT COALESCE(sum(delta), 0) FROM ledger") == expected["ledger"]
        assert _scalar(restored, "points", "SELECT COALESCE(sum(balance), 0) FROM accounts") == expected["balances"]
        assert _scalar(restored, "gateway", "SELECT count(*) FROM audit_log") >= expected["audit"]
        assert _scalar(restored, "members", "SELECT count(*) FROM members WHERE id = :m", m=after) == 0

        gateway = sa.create_engine(_url(restored, "gateway"), poolclass=sa.pool.NullPool)
        try:
            chain = verify(gateway)
        finally:
            gateway.dispose()
        assert chain.ok and chain.checked >= 1, chain

        cipher = FieldCipher.from_env(json.loads((tmp_path / "b" / "secrets.json").read_text()))
        found = _scalar(restored, "members", "SELECT id FROM members WHERE phone_bidx = :b",
                        b=cipher.blind_index(normalize_phone(phone), "phone"))
        assert str(found) == member_id
        stored = _scalar(restored, "members", "SELECT phone_enc FROM members WHERE id = :m", m=member_id)
        assert cipher.decrypt(stored, member_id, "phone") == normalize_phone(phone)
    finally:
        _drop(restored)
