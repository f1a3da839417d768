"""Members service entrypoints."""
from __future__ import annotations

import logging
import uuid
from typing import Any

from nameko.rpc import rpc

from contracts.errors import Forbidden, InvalidInput, NotFound
from contracts.events import MemberRegistered
from contracts.rpc import Member, RegisterMember, RegisterMemberResult
from service_runtime.base import ServiceBase, parse_request
from services.members import domain, store

log = logging.getLogger(__name__)


def _view(row: Any) -> Member:
    return Member(
        member_id=str(row.id), member_number=row.member_number, name=row.name, phone=row.phone,
        registration_store=row.registration_store, channel=row.channel, status=row.status,
        created_at=row.created_at,
    )


class MembersService(ServiceBase):
    name = "members"

    @rpc(expected_exceptions=(InvalidInput,))
    def register(self, **request: Any) -> dict[str, Any]:
        cmd: RegisterMember = parse_request(RegisterMember, request)
        name = domain.clean_name(cmd.name)
        phone = domain.normalize_phone(cmd.phone)
        with self.db.transaction() as tx:
            row, created = store.register(tx, name, phone, cmd.registration_store, cmd.channel)
            if created:
                tx.emit(MemberRegistered(
                    member_id=str(row.id), member_number=row.member_number,
                    registration_store=row.registration_store, channel=row.channel,
                    registered_at=row.created_at,
                ))
        log.info("member %s", "registered" if created else "already registered",
                 extra={"member_id": str(row.id), "channel": cmd.channel, "caller": self.caller.kind,
                        "caller_id": self.caller.id})
        return RegisterMemberResult(member=_view(row), created=created).model_dump(mode="json")

    @rpc(expected_exceptions=(InvalidInput, NotFound, Forbidden))
    def get(self, member_id: str) -> dict[str, Any]:
        try:
            uuid.UUID(str(member_id))
        except ValueError:
            raise InvalidInput("not a member id", "member_id") from None
        if self.caller.kind == "member" and self.caller.member_id != member_id:
            raise Forbidden("a member sees only their own record", "member_id")
        with self.db.transaction() as tx:
            row = store.get(tx, member_id)
        if row is None:
            raise NotFound(f"no member {member_id}", "member_id")
        return _view(row).model_dump(mode="json")

    @rpc(expected_exceptions=(InvalidInput, NotFound))
    def find_by_phone(self, phone: str) -> dict[str, Any]:
        normalized = domain.normalize_phone(phone)
        with self.db.transaction() as tx:
            row = store.by_phone(tx, normalized)
        if row is None:
            raise NotFound("no member with this phone", "phone")
        return _view(row).model_dump(mode="json")
