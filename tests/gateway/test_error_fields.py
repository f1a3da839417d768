"""An error's ``field`` names something the caller sent, not a service's internal name for it."""
from __future__ import annotations

import uuid
from typing import Any

from services.gateway.app import Services
from services.gateway.pagination import make_cursor
from services.gateway.rpc import RemoteError
from tests.gateway.test_points_routes import fake  # noqa: F401 (the fixture)


class _Refusing:
    """An RPC client whose every call is refused with ``error``."""

    def __init__(self, error: RemoteError) -> None:
        self.error = error

    async def call(self, service: str, method: str, **kwargs: Any) -> Any:
        raise self.error


def test_a_cursor_a_service_refuses_is_named_cursor_not_after(client, callers):
    real = client.app.state.services
    client.app.state.services = Services(_Refusing(RemoteError("InvalidInput", "not a position", "after")))
    try:
        answer = client.get("/v1/members", headers=callers["admin"],
                            params={"name_prefix": "Zh", "cursor": make_cursor("garbage")})
    finally:
        client.app.state.services = real
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "cursor"


def test_an_unknown_member_to_merge_is_named_merged_member_id(client, callers, fake):  # noqa: F811
    survivor, merged = str(uuid.uuid4()), str(uuid.uuid4())

    def get(kw: dict[str, Any]) -> dict[str, Any]:
        if kw["member_id"] == merged:
            raise RemoteError("NotFound", f"no member {merged}", "member_id")
        return {"member_id": survivor, "registration_store": "SH-001"}

    fake({("members", "get"): get})
    answer = client.post(f"/v1/members/{survivor}/merge", headers=callers["manager"],
                         json={"merged_member_id": merged})
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["field"] == "merged_member_id"
