"""Registration (at a till, on the web or in the app, by staff) and finding who a member is."""
from __future__ import annotations

from typing import Any

from contracts.events import MemberRegistered
from contracts.rpc import RegisterMember
from service_runtime.db import WorkerDb
from services.members import domain, repo
from services.members.crypto import FieldCipher
from services.members.views import today


def check(cmd: RegisterMember) -> dict[str, Any]:
    """The new member's fields as stored, contacts still clear; InvalidInput naming the first bad
    field. Touches no table, so it can run before a login code is spent."""
    phone = domain.normalize_phone(cmd.phone)
    return {
        "phone": phone, "name": domain.clean_name(cmd.name),
        "gender": None if cmd.gender is None else domain.check_gender(cmd.gender),
        "birthday": None if cmd.birthday is None else domain.check_birthday(cmd.birthday, today()),
        "registration_store": None if cmd.registration_store is None
        else domain.check_store(cmd.registration_store),
        "channel": cmd.channel, "tags": domain.clean_tags(cmd.tags),
        "preferences": domain.check_preferences(dict(cmd.preferences)),
        "email": domain.normalize_email(cmd.email) if cmd.email else None,
        "id_number": domain.check_id_number(cmd.id_number) if cmd.id_number else None,
    }


def _row_values(clean: dict[str, Any], cipher: FieldCipher, member_id: str) -> dict[str, Any]:
    """Column values: contacts encrypted, email found by its blind index."""
    values = {k: v for k, v in clean.items() if k not in ("phone", "email", "id_number")}
    values["id"] = member_id
    values["phone_enc"] = cipher.encrypt(clean["phone"], member_id, "phone")
    if clean["email"]:
        values["email_enc"] = cipher.encrypt(clean["email"], member_id, "email")
        values["email_bidx"] = cipher.blind_index(clean["email"].lower(), "email")
    if clean["id_number"]:
        values["id_number_enc"] = cipher.encrypt(clean["id_number"], member_id, "id_number")
    return values


def register(db: WorkerDb, cipher: FieldCipher, cmd: RegisterMember,
             actor: tuple[str, str | None] | None = None) -> tuple[Any, bool]:
    """(row, created): a phone registered already gives its member (the survivor if merged).
    ``actor`` is the caller (kind, id), told to the fraud service with the device and phone block."""
    clean = check(cmd)
    values = _row_values(clean, cipher, repo.new_member_id())
    with db.transaction() as tx:
        row, created = repo.register(tx, values, cipher.blind_index(clean["phone"], "phone"))
        if not created:
            row = repo.follow(tx, row)  # a merged member's phone leads to the survivor
        if created:
            tx.emit(MemberRegistered(
                member_id=str(row.id), member_number=row.member_number,
                registration_store=row.registration_store, channel=row.channel, registered_at=row.created_at,
                gender=row.gender, birthday=row.birthday, tags=list(row.tags or []),
                actor_kind=actor[0] if actor else None, actor_id=actor[1] if actor else None, device=cmd.device,
                # many members from one block of 1,000 numbers is a signal; the number itself stays here
                phone_block=cipher.blind_index(clean["phone"][:-3], "phone_block"),
            ))
    return row, created


def identify(db: WorkerDb, member_ids: list[str], numbers: list[str]) -> list[dict[str, Any]]:
    """Ids, numbers, stores and statuses of these members, nothing personal."""
    with db.transaction() as tx:
        rows = repo.identify(tx, member_ids, numbers)
    return [{"member_id": str(r.id), "member_number": r.member_number,
             "registration_store": r.registration_store, "status": r.status} for r in rows]


def by_phone(db: WorkerDb, cipher: FieldCipher, phone: str) -> tuple[str, Any | None]:
    """The phone in E.164 and the row of the member holding it (the survivor if merged), if any."""
    normalized = domain.normalize_phone(phone)
    with db.transaction() as tx:
        row = repo.follow(tx, repo.by_phone(tx, cipher.blind_index(normalized, "phone")))
    return normalized, row
