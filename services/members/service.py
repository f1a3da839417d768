"""Members service entrypoints: parse, call the rules and the store, return contract models."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import MemberConsentChanged, MemberRegistered, MemberUpdated
from contracts.rpc import (
    Consent,
    Member,
    MemberChange,
    MemberPage,
    RegisterMember,
    RegisterMemberResult,
    SearchMembers,
    SetConsent,
    UpdateMember,
)
from service_runtime.base import ServiceBase, parse_request
from services.members import domain, store
from services.members.crypto import FieldCipher

log = logging.getLogger(__name__)
SENSITIVE = ("phone", "email", "id_number")
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)


class Cipher(DependencyProvider):
    """The field cipher, built once at start-up from configuration (fails fast without keys)."""

    def setup(self) -> None:
        self.cipher = FieldCipher.from_env()

    def get_dependency(self, worker_ctx: Any) -> FieldCipher:
        return self.cipher


def _today() -> date:
    return datetime.now(UTC).date()


def _member_id(member_id: str) -> str:
    try:
        return str(uuid.UUID(str(member_id)))
    except ValueError:
        raise InvalidInput("not a member id", "member_id") from None


class MembersService(ServiceBase):
    name = "members"
    cipher = Cipher()

    # -- views ------------------------------------------------------------------------
    def _view(self, row: Any) -> Member:
        def clear(field: str) -> str | None:
            stored = getattr(row, f"{field}_enc")
            return None if stored is None else self.cipher.decrypt(stored, str(row.id), field)

        return Member(
            member_id=str(row.id), member_number=row.member_number, name=row.name, phone=clear("phone") or "",
            email=clear("email"), id_number=clear("id_number"), gender=row.gender, birthday=row.birthday,
            registration_store=row.registration_store, channel=row.channel, tags=list(row.tags),
            preferences=dict(row.preferences), status=row.status, version=row.version,
            created_at=row.created_at, updated_at=row.updated_at,
        )

    def _check_self(self, member_id: str) -> None:
        if self.caller.kind == "member" and self.caller.member_id != member_id:
            raise Forbidden("a member sees only their own record", "member_id")

    # -- registration and reads ---------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def register(self, **request: Any) -> dict[str, Any]:
        cmd: RegisterMember = parse_request(RegisterMember, request)
        member_id = store.new_member_id()
        phone = domain.normalize_phone(cmd.phone)
        values: dict[str, Any] = {
            "id": member_id, "name": domain.clean_name(cmd.name),
            "gender": None if cmd.gender is None else domain.check_gender(cmd.gender),
            "birthday": None if cmd.birthday is None else domain.check_birthday(cmd.birthday, _today()),
            "registration_store": cmd.registration_store, "channel": cmd.channel,
            "tags": domain.clean_tags(cmd.tags), "preferences": domain.check_preferences(dict(cmd.preferences)),
            "phone_enc": self.cipher.encrypt(phone, member_id, "phone"),
        }
        if cmd.email:
            email = domain.normalize_email(cmd.email)
            values["email_enc"] = self.cipher.encrypt(email, member_id, "email")
            values["email_bidx"] = self.cipher.blind_index(email.lower(), "email")
        if cmd.id_number:
            values["id_number_enc"] = self.cipher.encrypt(domain.check_id_number(cmd.id_number), member_id,
                                                          "id_number")
        with self.db.transaction() as tx:
            row, created = store.register(tx, values, self.cipher.blind_index(phone, "phone"))
            if created:
                tx.emit(MemberRegistered(
                    member_id=str(row.id), member_number=row.member_number,
                    registration_store=row.registration_store, channel=row.channel, registered_at=row.created_at,
                ))
        log.info("member %s", "registered" if created else "already registered",
                 extra={"member_id": str(row.id), "channel": cmd.channel, "caller": self.caller.kind,
                        "caller_id": self.caller.id})
        return RegisterMemberResult(member=self._view(row), created=created).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def get(self, member_id: str) -> dict[str, Any]:
        member_id = _member_id(member_id)
        self._check_self(member_id)
        with self.db.transaction() as tx:
            row = store.get(tx, member_id)
        if row is None:
            raise NotFound(f"no member {member_id}", "member_id")
        return self._view(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def find_by_phone(self, phone: str) -> dict[str, Any]:
        bidx = self.cipher.blind_index(domain.normalize_phone(phone), "phone")
        with self.db.transaction() as tx:
            row = store.by_phone(tx, bidx)
        if row is None:
            raise NotFound("no member with this phone", "phone")
        return self._view(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def search(self, **request: Any) -> dict[str, Any]:
        query: SearchMembers = parse_request(SearchMembers, request)
        bidx = None if query.phone is None else self.cipher.blind_index(domain.normalize_phone(query.phone), "phone")
        after = None
        if query.after:
            stamp, _, last_id = query.after.partition("|")
            try:
                after = (datetime.fromisoformat(stamp), str(uuid.UUID(last_id)))
            except ValueError:
                raise InvalidInput("not a position this service gave out", "after") from None
        with self.db.transaction() as tx:
            rows = store.search(tx, query.model_dump(), bidx, query.limit + 1, after)
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        following = f"{rows[-1].created_at.isoformat()}|{rows[-1].id}" if more else None
        return MemberPage(items=[self._view(r) for r in rows], next=following).model_dump(mode="json")

    # -- changes ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def update(self, member_id: str, expected_version: int, **changes: Any) -> dict[str, Any]:
        member_id = _member_id(member_id)
        self._check_self(member_id)
        cmd: UpdateMember = parse_request(UpdateMember, changes)
        given = cmd.model_dump(exclude_unset=True)
        if not given:
            raise InvalidInput("nothing to change")
        if self.caller.kind == "member" and {"tags", "status"} & given.keys():
            raise Forbidden("members cannot change their tags or status", next(iter({"tags", "status"} & given.keys())))
        if not isinstance(expected_version, int) or isinstance(expected_version, bool):
            raise InvalidInput("must be the member's current version (an integer)", "version")
        with self.db.transaction() as tx:
            row = store.get(tx, member_id, for_update=True)
            if row is None:
                raise NotFound(f"no member {member_id}", "member_id")
            if row.status == "erased":
                raise Conflict("this member was erased", "member_id")
            if row.version != expected_version:
                raise Conflict(f"stale version {expected_version}: the member is at version {row.version}", "version")
            current = self._view(row)
            values, diff = self._changes(tx, current, given)
            if not diff:
                return current.model_dump(mode="json")
            updated = store.update(tx, member_id, expected_version, values)
            store.record_change(tx, member_id, updated.version, self.caller.kind, self.caller.id, diff)
            tx.emit(MemberUpdated(member_id=member_id, version=updated.version, changed_fields=sorted(diff),
                                  status=updated.status))
        return self._view(updated).model_dump(mode="json")

    def _changes(self, tx: Any, current: Member, given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Column values to write and the history entry (sensitive values are not repeated)."""
        member_id = current.member_id
        wanted: dict[str, Any] = {}
        for field, value in given.items():
            if field == "name":
                value = domain.clean_name(value)
            elif field == "phone":
                value = domain.normalize_phone(value)
            elif field == "email":
                value = domain.normalize_email(value) if value else None
            elif field == "id_number":
                value = domain.check_id_number(value) if value else None
            elif field == "gender" and value is not None:
                value = domain.check_gender(value)
            elif field == "birthday" and value is not None:
                value = domain.check_birthday(value, _today())
            elif field == "tags":
                value = domain.clean_tags(value or [])
            elif field == "preferences":
                value = domain.check_preferences(dict(value or {}))
            wanted[field] = value
        values: dict[str, Any] = {}
        diff: dict[str, Any] = {}
        for field, value in wanted.items():
            before = getattr(current, field)
            if value == before:
                continue
            if field in SENSITIVE:
                diff[field] = {"changed": True}
                values[f"{field}_enc"] = None if value is None else self.cipher.encrypt(value, member_id, field)
                if field == "phone":
                    bidx = self.cipher.blind_index(value, "phone")
                    if store.phone_taken_by_other(tx, bidx, member_id):
                        raise Conflict("another member has this phone", "phone")
                    values["phone_bidx"] = bidx
                if field == "email":
                    values["email_bidx"] = None if value is None else self.cipher.blind_index(value.lower(), "email")
            else:
                diff[field] = {"from": _jsonable(before), "to": _jsonable(value)}
                values[field] = value
        return values, diff

    @rpc(expected_exceptions=EXPECTED)
    def history(self, member_id: str) -> list[dict[str, Any]]:
        member_id = _member_id(member_id)
        self._check_self(member_id)
        with self.db.transaction() as tx:
            if store.get(tx, member_id) is None:
                raise NotFound(f"no member {member_id}", "member_id")
            rows = store.history(tx, member_id)
        return [MemberChange(version=r.version, changed_at=r.changed_at, actor_kind=r.actor_kind,
                             actor_id=r.actor_id, fields=r.fields).model_dump(mode="json") for r in rows]

    # -- consent ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def set_consent(self, member_id: str, **request: Any) -> dict[str, Any]:
        member_id = _member_id(member_id)
        self._check_self(member_id)
        cmd: SetConsent = parse_request(SetConsent, request)
        with self.db.transaction() as tx:
            member = store.get(tx, member_id)
            if member is None:
                raise NotFound(f"no member {member_id}", "member_id")
            if member.status == "erased":
                raise Conflict("this member was erased", "member_id")
            row, changed = store.set_consent(tx, member_id, cmd.channel, cmd.granted, cmd.source, cmd.text_version,
                                             self.caller.kind, self.caller.id)
            if changed:
                tx.emit(MemberConsentChanged(member_id=member_id, channel=cmd.channel, granted=row.granted,
                                             changed_at=row.changed_at, source=row.source,
                                             text_version=row.text_version))
        return _consent(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def consents(self, member_id: str) -> list[dict[str, Any]]:
        member_id = _member_id(member_id)
        self._check_self(member_id)
        with self.db.transaction() as tx:
            if store.get(tx, member_id) is None:
                raise NotFound(f"no member {member_id}", "member_id")
            rows = store.consents_of(tx, member_id)
        return [_consent(r).model_dump(mode="json") for r in rows]


def _consent(row: Any) -> Consent:
    return Consent(channel=row.channel, granted=row.granted, changed_at=row.changed_at, source=row.source,
                   text_version=row.text_version)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
