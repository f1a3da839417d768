"""Webhook secrets are sealed at rest in the feed's database, and a secret written before sealing is
sealed by the reseal step (migration 0002, or python -m services.feed.reseal) and still signs."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from service_runtime.config import database_url
from services.feed import secretbox
from services.feed.queue import active
from services.feed.reseal import reseal
from tests.helpers import query
from tests.service.feed_support import ERP, start_feed
from tests.service.notify_support import call


def test_webhook_secrets_are_sealed_and_old_plain_ones_get_sealed(start_service):
    feed = start_feed(start_service)
    created = call(feed, "create_webhook", caller=ERP, url="https://erp.example.com/hooks", types=["tier.changed"])
    [row] = query("feed", "SELECT secret FROM webhooks WHERE id = :i", i=created["id"])
    assert row.secret.startswith("test-feed:") and created["secret"] not in row.secret
    legacy = str(uuid.uuid4())
    engine = sa.create_engine(database_url("feed"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:  # a subscription made before secrets were sealed
            conn.execute(sa.text("INSERT INTO webhooks (id, url, types, secret) VALUES (:i, 'https://x.example/h', "
                                 "'[\"tier.changed\"]', 'whsec_legacy')"), {"i": legacy})
            assert {str(h.id): h.secret for h in active(conn)}[legacy] == "whsec_legacy"  # still signs
            assert reseal(conn, secretbox.box(), check=True) >= 1
            reseal(conn, secretbox.box())
            assert reseal(conn, secretbox.box(), check=True) == 0
            hooks = {str(h.id): h.secret for h in active(conn)}
            assert hooks[legacy] == "whsec_legacy" and hooks[created["id"]] == created["secret"]
            conn.execute(sa.text("DELETE FROM webhooks WHERE id = :i"), {"i": legacy})
        [sealed] = query("feed", "SELECT secret FROM webhooks WHERE id = :i", i=created["id"])
        assert sealed.secret.startswith("test-feed:")
    finally:
        engine.dispose()
