"""Inbox retention on the real database: old ids go, recent ones keep deduplicating."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from service_runtime.config import database_url
from service_runtime.inbox import check_retention, purge
from tests.helpers import scalar, wait_for

_INSERT = sa.text("INSERT INTO inbox (event_id, handler, event_type, received_at) "
                  "VALUES (:id, 'retention_test', 'test.event', now() - make_interval(hours => :age)) "
                  "ON CONFLICT DO NOTHING")


def _insert(engine: sa.Engine, age_hours: int) -> tuple[str, int]:
    """(event id, rows inserted): 0 rows means the inbox still remembers the id."""
    event_id = str(uuid.uuid4())
    with engine.begin() as conn:
        return event_id, conn.execute(_INSERT, {"id": event_id, "age": age_hours}).rowcount


def _remembers(event_id: str) -> bool:
    return bool(scalar("points", "SELECT count(*) FROM inbox WHERE event_id = :id", id=event_id))


@pytest.fixture
def points_db(platform_env):
    engine = sa.create_engine(database_url("points"), poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def test_bootstrap_indexes_the_purge(points_db):
    assert scalar("points", "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                  "WHERE c.relname = 'inbox_received_at'") is True


def test_purge_deletes_only_ids_older_than_the_retention(points_db):
    old = [_insert(points_db, 200)[0] for _ in range(5)]
    recent, inserted = _insert(points_db, 167)
    assert inserted == 1

    assert purge(points_db, 168, batch=2) >= 5  # several batches
    assert not any(_remembers(event_id) for event_id in old)
    assert _remembers(recent)
    with points_db.begin() as conn:  # a late copy of the recent event is still a duplicate
        assert conn.execute(_INSERT, {"id": recent, "age": 0}).rowcount == 0


def test_a_running_service_purges_its_inbox(start_service, points_db):
    old, _ = _insert(points_db, 24 * 30)
    recent, _ = _insert(points_db, 1)
    start_service("points", inbox_purge_seconds=0.2)
    wait_for(lambda: not _remembers(old), timeout=20, message="old inbox row purged by the service")
    assert _remembers(recent)


@pytest.mark.parametrize("inbox_hours, outbox_hours", [(24, 72), (71, 72), (47, 24)])
def test_a_retention_shorter_than_a_redelivery_window_is_refused(inbox_hours, outbox_hours):
    with pytest.raises(ValueError, match="INBOX_RETENTION_HOURS"):
        check_retention(inbox_hours, outbox_hours)


def test_the_default_retention_outlasts_the_outbox():
    assert check_retention(168, 72) == 168
