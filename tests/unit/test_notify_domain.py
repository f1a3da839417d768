"""Notify's pure rules: template checks and rendering, quiet hours across midnight and zones, caps,
the breaker and the rate limit, and the HMAC signatures receivers check."""
from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from contracts.errors import InvalidInput
from services.notify import domain
from services.notify.channels import sign, verify


def test_a_template_may_use_only_its_kinds_variables():
    domain.check_template("points.expiring", None, "{{name}}: {{points}} expire on {{ expiry_date }}")
    domain.check_template("campaign.spring", "{{campaign_name}}", "{{coupon_value}} off")
    with pytest.raises(InvalidInput) as refused:
        domain.check_template("birthday", None, "Happy birthday {{name}}, you have {{points}} points")
    assert refused.value.field == "body.points"
    with pytest.raises(InvalidInput) as in_subject:
        domain.check_template("tier.changed", "{{coupon_code}}", "{{new_tier}}")
    assert in_subject.value.field == "subject.coupon_code"
    with pytest.raises(InvalidInput) as unbalanced:
        domain.check_template("birthday", None, "Hi {{name}")
    assert unbalanced.value.field == "body"
    with pytest.raises(InvalidInput) as key:
        domain.check_key("loyalty.spam")
    assert key.value.field == "key"


def test_rendering_never_leaves_a_blank():
    assert domain.render("Hi {{name}}, {{ points }} pts", {"name": "Ann", "points": 120}) == "Hi Ann, 120 pts"
    with pytest.raises(domain.MissingVariable) as missing:
        domain.render("Hi {{name}}", {"name": ""})
    assert missing.value.name == "name"


def test_every_seeded_template_passes_its_own_check():
    for key, channel, locale, subject, body in domain.DEFAULT_TEMPLATES:
        domain.check_template(key, subject, body)
        assert channel in domain.CHANNELS and locale in domain.LOCALES


def test_quiet_hours_across_midnight_release_at_the_local_end():
    quiet = domain.QuietHours.parse("21:00-08:00")
    assert quiet is not None and quiet.start == time(21)
    late = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)  # 22:30 in Shanghai
    assert quiet.release_at(late, "Asia/Shanghai") == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)  # 08:00 local
    early = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # 06:00 next day in Shanghai
    assert quiet.release_at(early, "Asia/Shanghai") == datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    noon = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    assert quiet.release_at(noon, "Asia/Shanghai") is None
    assert quiet.release_at(late, "Europe/London") is None  # 14:30 there: the member's zone decides
    assert domain.QuietHours.parse("off") is None
    with pytest.raises(InvalidInput):
        domain.QuietHours.parse("late-early")


def test_a_daytime_window_and_an_empty_one():
    quiet = domain.QuietHours.parse("12:00-13:00")
    assert quiet is not None
    assert quiet.release_at(datetime(2026, 1, 1, 4, 30, tzinfo=UTC), "Asia/Shanghai") == \
        datetime(2026, 1, 1, 5, 0, tzinfo=UTC)
    empty = domain.QuietHours.parse("09:00-09:00")
    assert empty is not None and empty.release_at(datetime(2026, 1, 1, 1, 0, tzinfo=UTC), "Asia/Shanghai") is None


def test_caps_count_from_the_local_day_and_week():
    now = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)  # Thursday 01:00 in Shanghai
    assert domain.day_start(now, "Asia/Shanghai") == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    assert domain.week_start(now, "Asia/Shanghai") == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # Monday 00:00
    assert not domain.over_cap(1, 4, per_day=2, per_week=5)
    assert domain.over_cap(2, 2, per_day=2, per_week=5)
    assert domain.over_cap(0, 5, per_day=2, per_week=5)
    assert not domain.over_cap(50, 50, per_day=0, per_week=0)


def test_the_breaker_opens_after_failures_and_half_opens_after_the_cooldown():
    breaker = domain.Breaker(threshold=3, cooldown=30)
    for t in (0, 1, 2):
        assert breaker.allows(t)
        breaker.failure(t)
    assert breaker.is_open and not breaker.allows(10) and breaker.allows(32)
    breaker.success()
    assert not breaker.is_open and breaker.failures == 0


def test_the_rate_limit_spaces_sends():
    bucket = domain.TokenBucket(rate=2, burst=2, now=0)
    assert bucket.wait_time(0) == 0 and bucket.wait_time(0) == 0
    assert bucket.wait_time(0) == pytest.approx(0.5)
    assert bucket.wait_time(0.5) == 0


def test_signatures_reject_tampering_and_old_timestamps():
    body = b'{"id":"m-1"}'
    signature = "sha256=" + sign("s3cret", "1700000000", body)
    assert verify("s3cret", "1700000000", body, signature, now=1700000100)
    assert not verify("s3cret", "1700000000", body + b" ", signature, now=1700000100)
    assert not verify("other", "1700000000", body, signature, now=1700000100)
    assert not verify("s3cret", "1700000000", body, signature, now=1700001000)  # replayed later
    assert not verify("s3cret", "yesterday", body, signature, now=1700000100)
