"""A member row whose phone does not decrypt (a key mix-up) does not take a list down."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from service_runtime.config import database_url
from tests.callers import entrypoint_hook


@pytest.fixture
def members(start_service):
    return start_service("members", outbox_relay=False)


def _unreadable_count() -> float:
    return REGISTRY.get_sample_value("loyalty_members_unreadable_fields_total", {"field": "phone"}) or 0.0


def test_a_row_that_does_not_decrypt_is_shown_unreadable_and_the_others_answer(members):
    store = f"BAD-{uuid.uuid4().hex[:8]}"
    with entrypoint_hook(members, "register") as register:
        good = register(name="Readable", phone="139" + str(uuid.uuid4().int)[:8], registration_store=store)
        bad = register(name="Mixed Up", phone="139" + str(uuid.uuid4().int)[:8], registration_store=store)
    good_id, bad_id = good["member"]["member_id"], bad["member"]["member_id"]
    engine = sa.create_engine(database_url("members"), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:  # another row's ciphertext: bound to that row, so it does not decrypt here
            conn.execute(sa.text("UPDATE members SET phone_enc = (SELECT phone_enc FROM members WHERE id = :good) "
                                 "WHERE id = :bad"), {"good": good_id, "bad": bad_id})
    finally:
        engine.dispose()
    before = _unreadable_count()

    with entrypoint_hook(members, "search") as search:
        page = search(store=store)

    shown = {item["member_id"]: item for item in page["items"]}
    assert set(shown) == {good_id, bad_id}
    assert shown[good_id]["phone"] == good["member"]["phone"] and shown[good_id]["unreadable"] == []
    assert shown[bad_id]["phone"] == "" and shown[bad_id]["unreadable"] == ["phone"]
    assert shown[bad_id]["name"] == "Mixed Up"
    assert _unreadable_count() == before + 1
