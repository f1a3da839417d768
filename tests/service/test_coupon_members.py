"""Coupons go only to members: an id campaigns' read model does not know is asked of members; an id
nobody has is refused (one coupon) or skipped with its reason (a job), and uses no budget."""
from __future__ import annotations

import uuid

import pytest

from contracts.errors import Conflict, NotFound, ServiceUnavailable
from tests.helpers import scalar, wait_for
from tests.service.coupons_support import MARKETER, call, new_member, template
from tests.service.segments_support import add_member


@pytest.fixture
def services(start_service):
    """campaigns, and members to confirm ids its read model does not know (no events between them)."""
    return start_service("campaigns", outbox_relay=False), start_service("members", outbox_relay=False)


def _registered(members) -> str:
    """A member of the members service whose member.registered campaigns has not seen."""
    body = {"name": "Coupon Member", "phone": "135" + str(uuid.uuid4().int)[:8]}
    return str(call(members, "register", **body)["member"]["member_id"])


def _issued(template_id: str) -> int:
    return int(scalar("campaigns", "SELECT issued_count FROM coupon_templates WHERE id = :t", t=template_id))


def test_one_coupon_to_an_id_nobody_has_is_404_and_to_a_member_just_registered_is_issued(services):
    campaigns, members = services
    made = call(campaigns, "create_template", caller=MARKETER, **template(budget_count=5))
    with pytest.raises(NotFound) as refused:
        call(campaigns, "issue_coupon", caller=MARKETER, template_id=made["template_id"], member_id=str(uuid.uuid4()))
    assert refused.value.field == "member_id"
    erased = add_member("S1", status="erased")
    with pytest.raises(Conflict) as refused:
        call(campaigns, "issue_coupon", caller=MARKETER, template_id=made["template_id"], member_id=erased)
    assert refused.value.field == "member_id" and "erased" in str(refused.value)
    assert _issued(made["template_id"]) == 0
    fresh = _registered(members)  # confirmed by members: the read model has not heard of them yet
    coupon = call(campaigns, "issue_coupon", caller=MARKETER, template_id=made["template_id"], member_id=fresh)
    assert coupon["member_id"] == fresh and _issued(made["template_id"]) == 1


def test_a_job_skips_ids_that_are_no_member_with_the_reason_and_they_use_no_budget(services):
    campaigns, members = services
    made = call(campaigns, "create_template", caller=MARKETER, **template(budget_count=3))
    nobody = [str(uuid.uuid4()) for _ in range(3)]
    erased = add_member("S1", status="erased")
    real = [new_member(), _registered(members), new_member()]
    job = call(campaigns, "start_issue_job", caller=MARKETER, template_id=made["template_id"],
               member_ids=[*nobody, erased, *real], source="staff")  # the unknown ids first: they took the budget

    def finished() -> dict | None:
        state = call(campaigns, "get_issue_job", job["job_id"], caller=MARKETER)
        return state if state["status"] == "done" else None

    done = wait_for(finished, timeout=60, message="the issue job")
    assert done["issued"] == 3 and done["skipped"] == 4
    assert done["skipped_reasons"] == {"no_such_member": 3, "member_erased": 1}
    assert sorted((s["member_id"], s["reason"]) for s in done["skipped_members"]) == sorted(
        [(m, "no_such_member") for m in nobody] + [(erased, "member_erased")])
    owners = {r for r in scalar("campaigns", "SELECT array_agg(member_id::text) FROM coupons WHERE job_id = :j",
                                j=job["job_id"])}
    assert owners == set(real) and _issued(made["template_id"]) == 3


def test_without_members_an_unknown_id_is_503_not_a_coupon(start_service):
    campaigns = start_service("campaigns", outbox_relay=False)  # members is not running
    made = call(campaigns, "create_template", caller=MARKETER, **template())
    with pytest.raises(ServiceUnavailable) as refused:
        call(campaigns, "issue_coupon", caller=MARKETER, template_id=made["template_id"], member_id=str(uuid.uuid4()))
    assert refused.value.field == "member_id" and _issued(made["template_id"]) == 0
    assert type(refused.value) is ServiceUnavailable  # the gateway maps errors by class name: this one is a 503
