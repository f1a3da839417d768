"""The feed's pure rules: webhook signatures as the reference receiver checks them (a forged, altered,
replayed or unsigned delivery refused), the docs' integrator example running as written, cursors,
type filters and the erasure scrub."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.errors import InvalidInput
from services.feed import domain, ingest, signing

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_test"
BODY = b'{"event_id":"e-1","type":"points.accrued","data":{"points":10}}'
NOW = 1_790_000_000


def _headers(secret: str = SECRET, timestamp: int = NOW, body: bytes = BODY) -> dict[str, str]:
    return signing.signed_headers(secret, timestamp, body)


def test_a_delivery_signed_with_the_secret_just_now_verifies():
    headers = _headers()
    assert headers["X-Loyalty-Signature"].startswith("v1=") and headers["X-Loyalty-Timestamp"] == str(NOW)
    signing.verify(SECRET, headers, BODY, NOW + 10)
    signing.verify(SECRET, {k.lower(): v for k, v in headers.items()}, BODY, NOW)  # header names any case
    rotating = {**headers, "X-Loyalty-Signature": "v1=" + "0" * 64 + ", " + headers["X-Loyalty-Signature"]}
    signing.verify(SECRET, rotating, BODY, NOW)


@pytest.mark.parametrize("headers,body,now,why", [
    (_headers(secret="whsec_other"), BODY, NOW, "does not match"),
    (_headers(), BODY.replace(b"10", b"99"), NOW, "does not match"),
    (_headers(), BODY, NOW + 301, "too far"),  # a captured delivery played again later
    (_headers(), BODY, NOW - 301, "too far"),
    ({"X-Loyalty-Timestamp": str(NOW)}, BODY, NOW, "missing"),
    ({**_headers(), "X-Loyalty-Timestamp": "soon"}, BODY, NOW, "whole Unix seconds"),
    ({**_headers(), "X-Loyalty-Timestamp": str(NOW + 1)}, BODY, NOW, "does not match"),  # timestamp is signed
])
def test_the_reference_receiver_refuses_what_the_feed_did_not_just_sign(headers, body, now, why):
    with pytest.raises(signing.SignatureError, match=why):
        signing.verify(SECRET, headers, body, now)


def test_the_integrator_example_in_the_docs_runs_and_agrees_with_the_reference():
    text = (ROOT / "docs" / "feed.md").read_text()
    [example] = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "signature checks passed" in done.stdout, done.stderr
    namespace: dict[str, object] = {}
    exec(compile(example.split("# a delivery")[0], "docs/feed.md", "exec"), namespace)  # noqa: S102 (our docs)
    verify = namespace["verify"]
    assert verify(SECRET, _headers(), BODY, NOW) is True  # type: ignore[operator]
    assert verify("whsec_other", _headers(), BODY, NOW) is False  # type: ignore[operator]


def test_cursors_round_trip_and_junk_is_refused_naming_the_field():
    assert domain.decode_cursor(domain.encode_cursor(987654321)) == 987654321
    assert domain.decode_cursor(None) == 0 and domain.decode_cursor("") == 0
    for junk in ("12345", "f1.!!", "f1." + "LTE", "f1.YWJj"):  # bare number, not base64, negative, not digits
        with pytest.raises(InvalidInput) as refused:
            domain.decode_cursor(junk)
        assert refused.value.field == "after"


def test_types_are_checked_against_what_the_feed_carries():
    assert domain.check_types(None) is None
    assert domain.check_types(["tier.changed", "points.accrued", "tier.changed"]) == ["points.accrued", "tier.changed"]
    assert domain.check_types(["coupon.redeemed"]) == ["coupon.redeemed"]
    with pytest.raises(InvalidInput, match="points.expiring"):
        domain.check_types(["points.expiring"])
    assert "members.imported" not in domain.FEED_TYPES and "member.registered" in domain.FEED_TYPES


def test_scrub_blanks_personal_fields_and_keeps_the_rest():
    payload = {"member_id": "m", "member_number": "7001", "gender": "f", "birthday": "1990-01-01", "tags": ["vip"],
               "registration_store": "SH-001", "channel": "pos"}
    scrubbed = domain.scrub("member.registered", payload)
    assert scrubbed == {**payload, "member_number": None, "gender": None, "birthday": None, "tags": None}
    assert domain.scrub("points.accrued", {"member_id": "m", "points": 5}) == {"member_id": "m", "points": 5}
    assert domain.member_of("member.merged", {"survivor_id": "s", "merged_id": "x"}) == "s"
    assert domain.order_key(None, 42) == "#42" and domain.order_key("m", 42) == "m"


def test_a_bulk_import_enters_the_feed_as_one_registration_per_member_with_stable_ids():
    from datetime import UTC, datetime

    from contracts.events import MemberRegistered, MembersImported

    members = [MemberRegistered(member_id=f"00000000-0000-0000-0000-00000000000{i}", member_number=f"700{i}",
                                channel="import", registered_at=datetime.now(UTC)) for i in (1, 2)]
    envelope = MembersImported(job_id="j", batch_no=0, members=members).envelope()
    rows = ingest.rows_of(envelope)
    assert [(r["type"], r["member_id"]) for r in rows] == [("member.registered", m.member_id) for m in members]
    assert [r["event_id"] for r in rows] == [r["event_id"] for r in ingest.rows_of(envelope)]  # a redelivery: same ids
    assert len({r["event_id"] for r in rows}) == 2
