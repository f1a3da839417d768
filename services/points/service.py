"""Points service entrypoints."""
from __future__ import annotations

import uuid
from typing import Any

from nameko.rpc import rpc

from contracts.envelope import Envelope
from contracts.errors import InvalidInput, NotFound
from contracts.events import MemberRegistered
from contracts.rpc import PointsAccount
from service_runtime.base import ServiceBase
from service_runtime.db import Tx
from service_runtime.events import subscribe
from services.points import store


class PointsService(ServiceBase):
    name = "points"

    @subscribe("members", "member.registered")
    def on_member_registered(self, tx: Tx, event: MemberRegistered, envelope: Envelope) -> None:
        store.open_account(tx, event.member_id, str(envelope.event_id))

    @rpc(expected_exceptions=(InvalidInput, NotFound))
    def get_account(self, member_id: str) -> dict[str, Any]:
        try:
            uuid.UUID(str(member_id))
        except ValueError:
            raise InvalidInput("not a member id", "member_id") from None
        with self.db.transaction() as tx:
            row = store.get_account(tx, member_id)
        if row is None:
            raise NotFound(f"no points account for member {member_id}", "member_id")
        return PointsAccount(
            member_id=str(row.member_id), balance=row.balance, tier=row.tier, opened_at=row.opened_at
        ).model_dump(mode="json")

    @rpc(expected_exceptions=(InvalidInput,))
    def export_member(self, member_id: str) -> dict[str, Any]:
        try:
            member_id = str(uuid.UUID(str(member_id)))
        except ValueError:
            raise InvalidInput("not a member id", "member_id") from None
        with self.db.transaction() as tx:
            row = store.get_account(tx, member_id)
        if row is None:
            return {}
        return {"account": PointsAccount(member_id=str(row.member_id), balance=row.balance, tier=row.tier,
                                         opened_at=row.opened_at).model_dump(mode="json")}
