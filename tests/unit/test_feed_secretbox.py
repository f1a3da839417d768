"""Webhook secrets sealed at rest: they open only under their webhook's id, rows written before
sealing still open, and a rotation reseals every secret under the new key (services/feed/secretbox.py)."""
from __future__ import annotations

import pytest

from services.feed.secretbox import SecretBox, SecretKeyError
from services.members.crypto import new_key

OLD, NEW = new_key(), new_key()


def test_a_sealed_secret_opens_only_for_its_webhook_and_rotates():
    before = SecretBox.from_env({"FEED_SECRET_KEYS": f"k1={OLD}"})
    sealed = before.seal("whsec_abc", "hook-1")
    assert sealed.startswith("k1:") and "whsec_abc" not in sealed
    assert before.open(sealed, "hook-1") == "whsec_abc"
    with pytest.raises(SecretKeyError, match="does not open"):
        before.open(sealed, "hook-2")  # copied into another subscription's row
    after = SecretBox.from_env({"FEED_SECRET_KEYS": f"k1={OLD},k2={NEW}"})
    assert after.active == "k2" and after.stale(sealed) and after.open(sealed, "hook-1") == "whsec_abc"
    assert after.stale("whsec_plain") and after.open("whsec_plain", "hook-1") == "whsec_plain"  # before sealing
    assert not after.stale(after.seal("whsec_abc", "hook-1"))
    retired = SecretBox.from_env({"FEED_SECRET_KEYS": f"k2={NEW}"})
    with pytest.raises(SecretKeyError, match="k1"):
        retired.open(sealed, "hook-1")


@pytest.mark.parametrize("env", [{}, {"FEED_SECRET_KEYS": "k1=short"}, {"FEED_SECRET_KEYS": f"k1={OLD}",
                                                                         "FEED_ACTIVE_KEY_ID": "k9"}])
def test_missing_or_bad_keys_are_refused(env):
    with pytest.raises(SecretKeyError):
        SecretBox.from_env(env)
