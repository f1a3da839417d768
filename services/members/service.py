"""Members service entrypoints: parse, authorise, call a use case, shape the answer."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer

from contracts.access import (
    ADMIN,
    AT_THE_TILL,
    BULK_TAGGERS,
    EXPORTERS,
    IMPORTERS,
    MARKETING,
    MEMBER,
    MEMBER_READERS,
    MEMBER_WRITERS,
    STORE_MANAGEMENT,
    Caller,
    parse_id,
    require,
    require_backend,
    require_self,
)
from contracts.envelope import Envelope
from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import PointsAccrued
from contracts.notify import MemberContact
from contracts.rpc import (
    BulkTags,
    IdentifyByCode,
    ImportBatch,
    ImportError_,
    LifecycleSettings,
    MemberChange,
    RegisterMember,
    RegisterMemberResult,
    SearchMembers,
    SetConsent,
    UpdateMember,
)
from service_runtime.base import parse_request
from service_runtime.config import env_int
from service_runtime.db import Tx
from service_runtime.events import READ_MODEL_WAIT, subscribe_batch
from service_runtime.store_zones import StoreZoneFeed
from services.members import (
    birthdays,
    consents,
    imports,
    lifecycle,
    merge,
    privacy,
    profile,
    qr,
    registration,
    search,
    tables,
    tags,
    views,
)
from services.members.crypto import FieldCipher

log = logging.getLogger(__name__)
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)
MAX_IDENTIFY = 1000


def _within_stores(caller: Caller, asked: list[str] | None) -> list[str] | None:
    """A store-bound caller's bulk edit reaches its own stores' members only (a search by an
    identifier reaches the chain: the gateway scopes searches)."""
    if caller.stores is None:
        return asked
    return sorted(set(caller.stores if asked is None else asked) & set(caller.stores))


def _instant(at: str | None) -> datetime:
    """Now, or the ISO time (with a zone) a test or an operator catching up gives."""
    try:
        instant = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError:
        raise InvalidInput("an ISO-8601 time with a zone", "at") from None
    if instant.tzinfo is None:
        raise InvalidInput("give a time zone", "at")
    return instant


class Cipher(DependencyProvider):
    """The field cipher, built once at start-up from configuration (fails fast without keys)."""

    if TYPE_CHECKING:  # a service's attribute holds what get_dependency returns
        def __get__(self, instance: object, owner: type | None = None) -> FieldCipher: ...

    def setup(self) -> None:
        self.cipher = FieldCipher.from_env()

    def get_dependency(self, worker_ctx: Any) -> FieldCipher:
        return self.cipher


class QrKey(DependencyProvider):
    """The key member QR codes are signed with, from configuration (qr.py; fails fast without)."""

    if TYPE_CHECKING:
        def __get__(self, instance: object, owner: type | None = None) -> bytes: ...

    def setup(self) -> None:
        self.key = qr.key_from_env()

    def get_dependency(self, worker_ctx: Any) -> bytes:
        return self.key


class MembersService(StoreZoneFeed):
    name = "members"
    cipher = Cipher()
    qr_key = QrKey()
    store_zones_table = tables.store_zones

    def _member(self, row: Any) -> dict[str, Any]:
        return views.member(row, self.cipher).model_dump(mode="json")

    # -- registration and reads ---------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def register(self, **request: Any) -> dict[str, Any]:
        require(self.caller, MEMBER_WRITERS)
        cmd: RegisterMember = parse_request(RegisterMember, request)
        row, created = registration.register(self.db, self.cipher, cmd, (self.caller.kind, self.caller.id))
        log.info("member %s", "registered" if created else "already registered",
                 extra={"member_id": str(row.id), "channel": cmd.channel, "caller": self.caller.kind,
                        "caller_id": self.caller.id})
        return RegisterMemberResult(member=views.member(row, self.cipher), created=created).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def check_registration(self, **request: Any) -> dict[str, Any]:
        """Would ``register`` accept these fields? 422 naming the first bad one; nothing is written
        (the gateway asks before it spends a member's one-time login code)."""
        require(self.caller, MEMBER_WRITERS)
        cmd: RegisterMember = parse_request(RegisterMember, request)
        registration.check(cmd)
        return {"ok": True}

    @rpc(expected_exceptions=EXPECTED)
    def get(self, member_id: str) -> dict[str, Any]:
        member_id = parse_id(member_id, "member_id")
        require_self(self.caller, member_id)
        return self._member(profile.current(self.db, member_id))

    @rpc(expected_exceptions=EXPECTED)
    def identify(self, member_ids: list[str] | None = None, member_numbers: list[str] | None = None
                 ) -> list[dict[str, Any]]:
        """Which of these ids and card numbers are members (points asks when a sale comes before
        member.registered): ids, numbers, stores and statuses, nothing personal."""
        ids = [parse_id(m, "member_ids") for m in member_ids or []]
        numbers = [str(n) for n in member_numbers or []]
        if len(ids) + len(numbers) > MAX_IDENTIFY:
            raise InvalidInput(f"at most {MAX_IDENTIFY} at once", "member_ids")
        if self.caller.kind == "member" and (numbers or set(ids) - {self.caller.member_id}):
            raise Forbidden("a member identifies only themselves", "member_ids")
        return registration.identify(self.db, ids, numbers)

    @rpc(expected_exceptions=EXPECTED)
    def contact(self, member_id: str) -> dict[str, Any]:
        """How to reach a member (notify, at send time). Services only: a call that came through the
        gateway carries its caller and is refused, so no person reaches decrypted contacts this way."""
        require_backend(self.caller)
        row = profile.current(self.db, parse_id(member_id, "member_id"))
        view = views.member(row, self.cipher)
        locale = row.preferences.get("locale") if isinstance(row.preferences, dict) else None
        return MemberContact(member_id=view.member_id, name=view.name, phone=view.phone or None, email=view.email,
                             locale=locale if isinstance(locale, str) else None,
                             registration_store=view.registration_store, status=view.status).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def find_by_phone(self, phone: str) -> dict[str, Any]:
        require(self.caller, MEMBER_READERS)
        _, row = registration.by_phone(self.db, self.cipher, phone)
        if row is None:
            raise NotFound("no member with this phone", "phone")
        return self._member(row)

    @rpc(expected_exceptions=EXPECTED)
    def lookup_phone(self, phone: str) -> dict[str, Any]:
        """The phone in E.164 and the member holding it, if any (one-time-code logins, sales by phone)."""
        require(self.caller, MEMBER_READERS)
        normalized, row = registration.by_phone(self.db, self.cipher, phone)
        return {"phone": normalized, "member_id": None if row is None else str(row.id)}

    @rpc(expected_exceptions=EXPECTED)
    def search(self, **request: Any) -> dict[str, Any]:
        query: SearchMembers = parse_request(SearchMembers, request)
        return search.search(self.db, self.cipher, query).model_dump(mode="json")

    # -- changes ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def update(self, member_id: str, expected_version: int, **changes: Any) -> dict[str, Any]:
        member_id = parse_id(member_id, "member_id")
        require(self.caller, STORE_MANAGEMENT | {MEMBER}, member=member_id)
        cmd: UpdateMember = parse_request(UpdateMember, changes)
        given = cmd.model_dump(exclude_unset=True)
        profile.check_changes(given)
        if self.caller.kind == "member" and {"tags", "status"} & given.keys():
            raise Forbidden("members cannot change their tags or status", next(iter({"tags", "status"} & given.keys())))
        profile.check_version(expected_version)
        updated = profile.update(self.db, self.cipher, self.caller, member_id, expected_version, given)
        return updated.model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def history(self, member_id: str) -> list[dict[str, Any]]:
        member_id = parse_id(member_id, "member_id")
        require(self.caller, STORE_MANAGEMENT | {"auditor", MEMBER}, member=member_id)
        return [MemberChange(version=r.version, changed_at=r.changed_at, actor_kind=r.actor_kind,
                             actor_id=r.actor_id, fields=r.fields).model_dump(mode="json")
                for r in profile.history(self.db, member_id)]

    # -- consent ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def set_consent(self, member_id: str, **request: Any) -> dict[str, Any]:
        member_id = parse_id(member_id, "member_id")
        require(self.caller, MEMBER_WRITERS | {MEMBER}, member=member_id)
        cmd: SetConsent = parse_request(SetConsent, request)
        return views.consent(consents.set_consent(self.db, self.caller, member_id, cmd)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def consents(self, member_id: str) -> list[dict[str, Any]]:
        member_id = parse_id(member_id, "member_id")
        require_self(self.caller, member_id)
        return [views.consent(r).model_dump(mode="json") for r in consents.consents(self.db, member_id)]

    # -- bulk import ---------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def start_import(self, source: str, format: str, encoding: str) -> dict[str, Any]:
        require(self.caller, IMPORTERS)
        return views.job(imports.start(self.db, self.caller, source, format, encoding)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def import_batch(self, job_id: str, **request: Any) -> dict[str, Any]:
        """Validate, encrypt and insert one batch in one transaction; counts go to the job."""
        require(self.caller, IMPORTERS)
        job_id = parse_id(job_id, "job_id")
        batch: ImportBatch = parse_request(ImportBatch, request)
        return views.job(imports.batch(self.db, self.cipher, job_id, batch)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def finish_import(self, job_id: str, error: str | None = None) -> dict[str, Any]:
        require(self.caller, IMPORTERS)
        job = imports.finish(self.db, parse_id(job_id, "job_id"), error)
        return views.job(job).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def import_status(self, job_id: str) -> dict[str, Any]:
        require(self.caller, IMPORTERS)
        return views.job(imports.status(self.db, parse_id(job_id, "job_id"))).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def import_errors(self, job_id: str, after_line: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        require(self.caller, IMPORTERS)
        rows = imports.errors(self.db, parse_id(job_id, "job_id"), int(after_line), int(limit))
        return [ImportError_(line=r.line, field=r.field, message=r.message).model_dump(mode="json") for r in rows]

    # -- privacy, merge, bulk edit, birthdays ------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def export_member(self, member_id: str) -> dict[str, Any]:
        """Everything this service holds about a member (the gateway adds the other services' parts)."""
        member_id = parse_id(member_id, "member_id")
        require(self.caller, EXPORTERS, member=member_id)
        return privacy.export(self.db, self.cipher, member_id)

    @rpc(expected_exceptions=EXPECTED)
    def erase(self, member_id: str) -> dict[str, Any]:
        require(self.caller, STORE_MANAGEMENT)
        return self._member(privacy.erase(self.db, self.caller, parse_id(member_id, "member_id")))

    @rpc(expected_exceptions=EXPECTED)
    def merge(self, survivor_id: str, merged_id: str) -> dict[str, Any]:
        require(self.caller, STORE_MANAGEMENT)
        survivor_id, merged_id = parse_id(survivor_id, "member_id"), parse_id(merged_id, "member_id")
        return self._member(merge.merge(self.db, self.caller, survivor_id, merged_id))

    @rpc(expected_exceptions=EXPECTED)
    def bulk_tags(self, **request: Any) -> dict[str, Any]:
        require(self.caller, BULK_TAGGERS)
        cmd: BulkTags = parse_request(BulkTags, request)
        cmd.filter.stores = _within_stores(self.caller, cmd.filter.stores)
        return {"members_changed": tags.bulk_tags(self.db, self.cipher, self.caller, cmd)}

    @timer(interval=env_int("BIRTHDAY_JOB_SECONDS", 3600), eager=True)
    def birthday_job(self) -> None:
        self.run_birthdays()

    @rpc(expected_exceptions=EXPECTED)
    def run_birthdays(self, at: str | None = None) -> dict[str, int]:
        """Emit member.birthday for members whose birthday is today in their store's time zone,
        once per member per year however often this runs. ``at`` (ISO time) is for tests and
        catching up; the timer runs it hourly."""
        require(self.caller, ADMIN)
        return {"emitted": birthdays.greet(self.db, _instant(at))}

    # -- lifecycle classes (docs/lifecycle.md) -------------------------------------------------------
    @subscribe_batch("points", "points.accrued", max_wait=READ_MODEL_WAIT)
    def on_points_accrued(self, tx: Tx, events: list[tuple[PointsAccrued, Envelope]]) -> None:
        """Sales move their members' last purchase, count and class; in batches (busy hours)."""
        lifecycle.record_sales(tx, events, datetime.now(UTC))

    @rpc(expected_exceptions=EXPECTED)
    def lifecycle_settings(self) -> dict[str, Any]:
        require(self.caller, MARKETING)
        return lifecycle.settings(self.db).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def set_lifecycle_settings(self, **request: Any) -> dict[str, Any]:
        require(self.caller, ADMIN)
        cmd: LifecycleSettings = parse_request(LifecycleSettings, request)
        return lifecycle.set_settings(self.db, self.caller, cmd).model_dump(mode="json")

    @timer(interval=env_int("LIFECYCLE_JOB_SECONDS", 86400), eager=True)
    def lifecycle_job(self) -> None:
        self.run_lifecycle()

    @rpc(expected_exceptions=EXPECTED)
    def run_lifecycle(self, at: str | None = None, stores: list[str] | None = None) -> dict[str, int]:
        """Move members whose time passed into their next class (and apply changed thresholds):
        the count moved into each class. ``at`` (ISO time) and ``stores`` (registration stores) are
        for tests and catching up; the timer runs it daily and at start-up, for everyone."""
        require(self.caller, ADMIN)
        if stores is not None and (not isinstance(stores, list) or not all(isinstance(s, str) for s in stores)):
            raise InvalidInput("a list of store codes", "stores")
        return lifecycle.run(self.db, _instant(at), stores)

    # -- the member's dynamic QR code (docs/lifecycle.md) --------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def member_qr(self, member_id: str) -> dict[str, Any]:
        """A fresh code for the member's app to show; the member only (staff scan, they do not mint)."""
        member_id = parse_id(member_id, "member_id")
        require(self.caller, {MEMBER}, member=member_id)
        return qr.issue(self.db, self.qr_key, member_id, datetime.now(UTC)).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def identify_code(self, **request: Any) -> dict[str, Any]:
        """The member a scanned code names, for a till (staff at a counter, POS keys)."""
        require(self.caller, AT_THE_TILL | {"pos"})
        cmd: IdentifyByCode = parse_request(IdentifyByCode, request)
        return self._member(qr.identify(self.db, self.qr_key, cmd.code, datetime.now(UTC)))
