"""A member's record: reading it, changing it (versioned, with history), and its history."""
from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError

from contracts.access import Caller
from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.events import MemberUpdated
from contracts.rpc import Member
from service_runtime.db import Tx, WorkerDb
from services.members import domain, repo, views
from services.members.crypto import FieldCipher

SENSITIVE = ("phone", "email", "id_number")
SEGMENT_FIELDS = ("gender", "birthday", "tags", "registration_store")  # campaigns keeps them for segments
REQUIRED = ("name", "phone", "status", "tags", "preferences")


def current(db: WorkerDb, member_id: str) -> Any:
    """The member's row (the survivor's if merged), or NotFound."""
    with db.read() as tx:  # members.get at the till, members.contact for notify: no BEGIN/COMMIT round trips
        row = repo.follow(tx, repo.get(tx, member_id))
    if row is None:
        raise NotFound(f"no member {member_id}", "member_id")
    return row


def check_changes(given: dict[str, Any]) -> None:
    """InvalidInput for a change that cannot be made whatever the record holds."""
    if not given:
        raise InvalidInput("nothing to change")
    for field in REQUIRED:
        if field in given and given[field] is None:
            raise InvalidInput("cannot be removed", field)


def check_version(expected_version: Any) -> None:
    if not isinstance(expected_version, int) or isinstance(expected_version, bool):
        raise InvalidInput("must be the member's current version (an integer)", "version")


def update(db: WorkerDb, cipher: FieldCipher, caller: Caller, member_id: str, expected_version: int,
           given: dict[str, Any]) -> Member:
    """Apply these changes if the member is still at ``expected_version``; the new record."""
    with db.transaction() as tx:
        row = repo.require(tx, member_id, for_update=True)
        if row.status in ("erased", "merged"):
            raise Conflict(f"this member was {row.status}", "member_id")
        if row.version != expected_version:
            raise Conflict(f"stale version {expected_version}: the member is at version {row.version}", "version")
        before = views.member(row, cipher)
        values, diff = _changes(tx, cipher, before, given)
        if not diff:
            return before
        try:
            with tx.conn.begin_nested():
                updated = repo.update(tx, member_id, expected_version, values)
        except IntegrityError:  # another member took this phone a moment ago
            raise Conflict("another member has this phone", "phone") from None
        repo.record_change(tx, member_id, updated.version, caller.kind, caller.id, diff)
        tx.emit(MemberUpdated(member_id=member_id, version=updated.version, changed_fields=sorted(diff),
                              status=updated.status, **_segment_values(updated, diff)))
    return views.member(updated, cipher)


def _clean(field: str, value: Any) -> Any:
    """A changed field's value as it is stored (InvalidInput names the field)."""
    if field == "name":
        return domain.clean_name(value)
    if field == "phone":
        return domain.normalize_phone(value)
    if field == "email":
        return domain.normalize_email(value) if value else None
    if field == "id_number":
        return domain.check_id_number(value) if value else None
    if field == "gender" and value is not None:
        return domain.check_gender(value)
    if field == "birthday" and value is not None:
        return domain.check_birthday(value, views.today())
    if field == "tags":
        return domain.clean_tags(value or [])
    if field == "preferences":
        return domain.check_preferences(dict(value or {}))
    return value


def _changes(tx: Tx, cipher: FieldCipher, current: Member, given: dict[str, Any]
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column values to write and the history entry (sensitive values are not repeated)."""
    member_id = current.member_id
    wanted = {field: _clean(field, value) for field, value in given.items()}
    values: dict[str, Any] = {}
    diff: dict[str, Any] = {}
    for field, value in wanted.items():
        before = getattr(current, field)
        if value == before:
            continue
        if field in SENSITIVE:
            diff[field] = {"changed": True}
            values[f"{field}_enc"] = None if value is None else cipher.encrypt(value, member_id, field)
            if field == "phone":
                bidx = cipher.blind_index(value, "phone")
                if repo.phone_taken_by_other(tx, bidx, member_id):
                    raise Conflict("another member has this phone", "phone")
                values["phone_bidx"] = bidx
            if field == "email":
                values["email_bidx"] = None if value is None else cipher.blind_index(value.lower(), "email")
        else:
            diff[field] = {"from": _jsonable(before), "to": _jsonable(value)}
            values[field] = value
    return values, diff


def _segment_values(row: Any, diff: dict[str, Any]) -> dict[str, Any]:
    """The new values of the segmentation fields that changed."""
    return {f: (list(row.tags or []) if f == "tags" else getattr(row, f)) for f in SEGMENT_FIELDS if f in diff}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def history(db: WorkerDb, member_id: str) -> list[Any]:
    with db.transaction() as tx:
        repo.require(tx, member_id)
        return repo.history(tx, member_id)
