from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import generate
from contracts.envelope import Envelope
from contracts.events import MemberRegistered, parse_payload


def test_committed_schemas_match_the_code():
    assert generate.drift() == [], "run `make schemas` and commit contracts/schemas"


def _event() -> MemberRegistered:
    return MemberRegistered(member_id="6f1c0d54-8f43-4c4c-9f0e-0d8f3d7f1a11", member_number="800000000011",
                            channel="pos", registered_at=datetime(2026, 1, 2, 3, 4, tzinfo=UTC))


def test_envelope_round_trips_through_json():
    envelope = _event().envelope()
    again = Envelope.model_validate_json(envelope.model_dump_json())
    assert again == envelope
    assert parse_payload(again) == _event()
    assert envelope.producer == "members" and envelope.version == 1


def test_envelope_rejects_naive_time_and_unknown_fields():
    body = _event().envelope().model_dump(mode="json")
    with pytest.raises(ValidationError):
        Envelope.model_validate({**body, "occurred_at": "2026-01-01T00:00:00"})
    with pytest.raises(ValidationError):
        Envelope.model_validate({**body, "extra": 1})


def test_unknown_event_type_or_bad_payload_is_refused():
    body = _event().envelope().model_dump(mode="json")
    with pytest.raises(ValueError):
        parse_payload(Envelope.model_validate({**body, "type": "member.exploded"}))
    with pytest.raises(ValidationError):
        parse_payload(Envelope.model_validate({**body, "payload": {"member_id": "x"}}))


def test_committed_openapi_document_matches_the_app():
    from services.gateway import openapi

    assert openapi.TARGET.read_text() == openapi.render(openapi.document()), "run `make schemas`"


def test_a_percent_template_says_which_percent_and_the_bare_one_is_refused_naming_the_new_names() -> None:
    from pydantic import ValidationError

    from contracts.coupons import CouponTemplate

    base = {"name": "9折", "kind": "percent", "valid_days": 7, "max_discount": "50.00"}
    assert CouponTemplate(**base, discount_percent="10").off_percent() == 10
    assert CouponTemplate(**base, price_percent="90").off_percent() == 10  # the same coupon
    for extra, field in (({"percent": "90"}, "percent"), ({"discount_percent": "10", "price_percent": "90"},
                                                          "price_percent")):
        try:
            CouponTemplate(**base, **extra)
        except ValidationError as exc:
            error = exc.errors()[0]
            assert error["loc"] == (field,)
            assert "discount_percent" in error["msg"] and "price_percent" in error["msg"]
        else:
            raise AssertionError(f"{extra} accepted")
