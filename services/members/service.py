"""Members service entrypoints: parse, call the rules and the store, return contract models."""
from __future__ import annotations

import logging
import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError

from contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from contracts.events import (
    MemberBirthday,
    MemberConsentChanged,
    MemberErased,
    MemberMerged,
    MemberRegistered,
    MembersImported,
    MemberUpdated,
)
from contracts.notify import MemberContact
from contracts.rpc import (
    BulkTags,
    Consent,
    ImportBatch,
    ImportError_,
    ImportJob,
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
from service_runtime.config import StoreZones, env_int
from services.members import domain, store
from services.members.crypto import FieldCipher

log = logging.getLogger(__name__)
UNREADABLE_FIELDS = Counter("loyalty_members_unreadable_fields_total",
                            "Member contact fields that did not decrypt when listed (alert on any)", ["field"])
SENSITIVE = ("phone", "email", "id_number")
EXPECTED = (InvalidInput, NotFound, Forbidden, Conflict)


class Cipher(DependencyProvider):
    """The field cipher, built once at start-up from configuration (fails fast without keys)."""

    def setup(self) -> None:
        self.cipher = FieldCipher.from_env()

    def get_dependency(self, worker_ctx: Any) -> FieldCipher:
        return self.cipher


def _require(tx: Any, member_id: str, *, for_update: bool = False) -> Any:
    """The member's row, or NotFound."""
    row = store.get(tx, member_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no member {member_id}", "member_id")
    return row


def _today() -> date:
    return datetime.now(UTC).date()


_SEGMENT_FIELDS = ("gender", "birthday", "tags", "registration_store")


def _segment_values(row: Any, diff: dict[str, Any]) -> dict[str, Any]:
    """The new values of the segmentation fields that changed (campaigns keeps them for segments)."""
    return {f: (list(row.tags or []) if f == "tags" else getattr(row, f)) for f in _SEGMENT_FIELDS if f in diff}


def _member_id(member_id: str, field: str = "member_id") -> str:
    try:
        return str(uuid.UUID(str(member_id)))
    except ValueError:
        raise InvalidInput("not an id", field) from None


class MembersService(ServiceBase):
    name = "members"
    cipher = Cipher()

    # -- views ------------------------------------------------------------------------
    def _view(self, row: Any, tolerant: bool = False) -> Member:
        """``tolerant`` (lists): a field that does not decrypt is shown empty and named in
        ``unreadable`` (counted, logged without its content) instead of failing the whole list."""
        unreadable: list[str] = []

        def clear(field: str) -> str | None:
            if row.status == "erased":
                return None
            stored = getattr(row, f"{field}_enc")
            if stored is None:
                return None
            try:
                return self.cipher.decrypt(stored, str(row.id), field)
            except ValueError as exc:  # KeyConfigError too: a key mix-up on one row
                if not tolerant:
                    raise
                UNREADABLE_FIELDS.labels(field).inc()
                log.error("member %s: %s", row.id, exc)
                unreadable.append(field)
                return None

        return Member(
            member_id=str(row.id), member_number=row.member_number, name=row.name, phone=clear("phone") or "",
            email=clear("email"), id_number=clear("id_number"), gender=row.gender, birthday=row.birthday,
            registration_store=row.registration_store, channel=row.channel, tags=list(row.tags),
            preferences=dict(row.preferences), status=row.status, version=row.version,
            created_at=row.created_at, updated_at=row.updated_at, unreadable=unreadable,
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
            "registration_store": None if cmd.registration_store is None
            else domain.check_store(cmd.registration_store),
            "channel": cmd.channel, "tags": domain.clean_tags(cmd.tags),
            "preferences": domain.check_preferences(dict(cmd.preferences)),
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
            if not created:
                row = _follow(tx, row)  # a merged member's phone leads to the survivor
            if created:
                tx.emit(MemberRegistered(
                    member_id=str(row.id), member_number=row.member_number,
                    registration_store=row.registration_store, channel=row.channel, registered_at=row.created_at,
                    gender=row.gender, birthday=row.birthday, tags=list(row.tags or []),
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
            row = _follow(tx, store.get(tx, member_id))
        if row is None:
            raise NotFound(f"no member {member_id}", "member_id")
        return self._view(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def identify(self, member_ids: list[str] | None = None, member_numbers: list[str] | None = None
                 ) -> list[dict[str, Any]]:
        """Which of these ids and card numbers are members (points asks when a sale comes before
        member.registered): ids, numbers, stores and statuses, nothing personal."""
        ids = [_member_id(m, "member_ids") for m in member_ids or []]
        numbers = [str(n) for n in member_numbers or []]
        if len(ids) + len(numbers) > 1000:
            raise InvalidInput("at most 1000 at once", "member_ids")
        if self.caller.kind == "member" and (numbers or set(ids) - {self.caller.member_id}):
            raise Forbidden("a member identifies only themselves", "member_ids")
        with self.db.transaction() as tx:
            rows = store.identify(tx, ids, numbers)
        return [{"member_id": str(r.id), "member_number": r.member_number,
                 "registration_store": r.registration_store, "status": r.status} for r in rows]

    @rpc(expected_exceptions=EXPECTED)
    def contact(self, member_id: str) -> dict[str, Any]:
        """How to reach a member (notify, at send time). Services only: a call that came through the
        gateway carries its caller and is refused, so no person reaches decrypted contacts this way."""
        if self.caller.kind != "internal":
            raise Forbidden("contact details are for services only")
        member_id = _member_id(member_id)
        with self.db.transaction() as tx:
            row = _follow(tx, store.get(tx, member_id))
        if row is None:
            raise NotFound(f"no member {member_id}", "member_id")
        view = self._view(row)
        locale = row.preferences.get("locale") if isinstance(row.preferences, dict) else None
        return MemberContact(member_id=view.member_id, name=view.name, phone=view.phone or None, email=view.email,
                             locale=locale if isinstance(locale, str) else None,
                             registration_store=view.registration_store, status=view.status).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def find_by_phone(self, phone: str) -> dict[str, Any]:
        bidx = self.cipher.blind_index(domain.normalize_phone(phone), "phone")
        with self.db.transaction() as tx:
            row = _follow(tx, store.by_phone(tx, bidx))
        if row is None:
            raise NotFound("no member with this phone", "phone")
        return self._view(row).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def lookup_phone(self, phone: str) -> dict[str, Any]:
        """The phone in E.164 and the member holding it, if any (for one-time-code logins)."""
        normalized = domain.normalize_phone(phone)
        with self.db.transaction() as tx:
            row = _follow(tx, store.by_phone(tx, self.cipher.blind_index(normalized, "phone")))
        return {"phone": normalized, "member_id": None if row is None else str(row.id)}

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
            if query.phone or query.member_number:  # identifiers of a merged member lead to the survivor
                rows = [_follow(tx, r) for r in rows]
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        following = f"{rows[-1].created_at.isoformat()}|{rows[-1].id}" if more else None
        return MemberPage(items=[self._view(r, tolerant=True) for r in rows], next=following).model_dump(mode="json")

    # -- changes ----------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def update(self, member_id: str, expected_version: int, **changes: Any) -> dict[str, Any]:
        member_id = _member_id(member_id)
        self._check_self(member_id)
        cmd: UpdateMember = parse_request(UpdateMember, changes)
        given = cmd.model_dump(exclude_unset=True)
        if not given:
            raise InvalidInput("nothing to change")
        for field in ("name", "phone", "status", "tags", "preferences"):
            if field in given and given[field] is None:
                raise InvalidInput("cannot be removed", field)
        if self.caller.kind == "member" and {"tags", "status"} & given.keys():
            raise Forbidden("members cannot change their tags or status", next(iter({"tags", "status"} & given.keys())))
        if not isinstance(expected_version, int) or isinstance(expected_version, bool):
            raise InvalidInput("must be the member's current version (an integer)", "version")
        with self.db.transaction() as tx:
            row = _require(tx, member_id, for_update=True)
            if row.status in ("erased", "merged"):
                raise Conflict(f"this member was {row.status}", "member_id")
            if row.version != expected_version:
                raise Conflict(f"stale version {expected_version}: the member is at version {row.version}", "version")
            current = self._view(row)
            values, diff = self._changes(tx, current, given)
            if not diff:
                return current.model_dump(mode="json")
            try:
                with tx.conn.begin_nested():
                    updated = store.update(tx, member_id, expected_version, values)
            except IntegrityError:  # another member took this phone a moment ago
                raise Conflict("another member has this phone", "phone") from None
            store.record_change(tx, member_id, updated.version, self.caller.kind, self.caller.id, diff)
            tx.emit(MemberUpdated(member_id=member_id, version=updated.version, changed_fields=sorted(diff),
                                  status=updated.status, **_segment_values(updated, diff)))
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
            _require(tx, member_id)
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
            member = _require(tx, member_id)
            if member.status in ("erased", "merged"):
                raise Conflict(f"this member was {member.status}", "member_id")
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
            _require(tx, member_id)
            rows = store.consents_of(tx, member_id)
        return [_consent(r).model_dump(mode="json") for r in rows]

    # -- bulk import ---------------------------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def start_import(self, source: str, format: str, encoding: str) -> dict[str, Any]:
        if not (1 <= len(source) <= 32) or not source.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput("1-32 letters, digits, - or _", "source")
        with self.db.transaction() as tx:
            job = store.create_import_job(tx, store.new_member_id(), source, format, encoding, self.caller.kind,
                                          self.caller.id)
        return _job(job).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def import_batch(self, job_id: str, **request: Any) -> dict[str, Any]:
        """Validate, encrypt and insert one batch in one transaction; counts go to the job."""
        job_id = _member_id(job_id, "job_id")
        batch: ImportBatch = parse_request(ImportBatch, request)
        today = _today()
        with self.db.transaction() as tx:
            job = store.import_job(tx, job_id)
            if job is None:
                raise NotFound("no such import", "job_id")
            if job.status != "running":
                raise Conflict(f"the import is {job.status}", "job_id")
            if not store.claim_import_batch(tx, job_id, batch.batch_no):
                return _job(job).model_dump(mode="json")  # a batch sent again: already counted
            errors: list[dict[str, Any]] = []
            pending: dict[str, dict[str, Any]] = {}
            for row in batch.rows:
                if "__error__" in row.fields:  # the gateway could not read this row
                    errors.append({"line": row.line, "field": "row", "message": str(row.fields["__error__"])})
                    continue
                try:
                    clean = domain.import_row(row.fields, today)
                except InvalidInput as exc:
                    errors.append({"line": row.line, "field": exc.field, "message": exc.message})
                    continue
                bidx = self.cipher.blind_index(str(clean["phone"]), "phone")
                if bidx in pending:
                    errors.append({"line": row.line, "field": "phone",
                                   "message": f"same phone as line {pending[bidx]['import_line']} of this file"})
                    continue
                pending[bidx] = self._import_values(clean, bidx, job.source, job_id, row.line)
            numbers = store.member_numbers(tx, len(pending)) if pending else []
            for values, number in zip(pending.values(), numbers, strict=True):
                values["member_number"] = number
            inserted = store.insert_members(tx, list(pending.values()))
            created = {r.phone_bidx for r in inserted}
            existing = 0
            known = store.existing_by_phone(tx, [b for b in pending if b not in created])
            for bidx, values in pending.items():
                if bidx in created:
                    continue
                prior = known.get(bidx)
                if prior is not None and prior.import_job == job_id and prior.import_line != values["import_line"]:
                    errors.append({"line": values["import_line"], "field": "phone",
                                   "message": f"same phone as line {prior.import_line} of this file"})
                else:
                    existing += 1  # known already (same phone or external id): nothing created twice
            if inserted:  # one event for the batch's new members
                tx.emit(MembersImported(job_id=job_id, batch_no=batch.batch_no, members=[
                    MemberRegistered(member_id=str(r.id), member_number=r.member_number,
                                     registration_store=r.registration_store, channel=r.channel,
                                     registered_at=r.created_at, gender=r.gender, birthday=r.birthday,
                                     tags=list(r.tags or [])) for r in inserted]))
            store.record_import_progress(tx, job_id, len(batch.rows), len(inserted), existing, errors)
            job = store.import_job(tx, job_id)
        return _job(job).model_dump(mode="json")

    def _import_values(self, clean: dict[str, Any], bidx: str, source: str, job_id: str, line: int) -> dict[str, Any]:
        member_id = store.new_member_id()
        values: dict[str, Any] = {
            "id": member_id, "name": clean["name"], "gender": clean.get("gender"), "birthday": clean.get("birthday"),
            "phone_enc": self.cipher.encrypt(clean["phone"], member_id, "phone"), "phone_bidx": bidx,
            "email_enc": None, "email_bidx": None, "id_number_enc": None,
            "registration_store": clean.get("registration_store"), "channel": "import",
            "tags": clean.get("tags", []), "preferences": {},
            "external_id": f"{source}:{clean['external_id']}" if clean.get("external_id") else None,
            "import_job": job_id, "import_line": line,
        }
        if clean.get("email"):
            values["email_enc"] = self.cipher.encrypt(clean["email"], member_id, "email")
            values["email_bidx"] = self.cipher.blind_index(clean["email"].lower(), "email")
        if clean.get("id_number"):
            values["id_number_enc"] = self.cipher.encrypt(clean["id_number"], member_id, "id_number")
        return values

    @rpc(expected_exceptions=EXPECTED)
    def finish_import(self, job_id: str, error: str | None = None) -> dict[str, Any]:
        job_id = _member_id(job_id, "job_id")
        with self.db.transaction() as tx:
            store.finish_import_job(tx, job_id, error)
            job = store.import_job(tx, job_id)
        if job is None:
            raise NotFound("no such import", "job_id")
        return _job(job).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def import_status(self, job_id: str) -> dict[str, Any]:
        job_id = _member_id(job_id, "job_id")
        with self.db.transaction() as tx:
            job = store.import_job(tx, job_id)
        if job is None:
            raise NotFound("no such import", "job_id")
        return _job(job).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def import_errors(self, job_id: str, after_line: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        job_id = _member_id(job_id, "job_id")
        with self.db.transaction() as tx:
            rows = store.import_errors_of(tx, job_id, int(after_line), max(1, min(int(limit), 1000)))
        return [ImportError_(line=r.line, field=r.field, message=r.message).model_dump(mode="json") for r in rows]


    # -- privacy, merge, bulk edit, birthdays ------------------------------------------------------
    @rpc(expected_exceptions=EXPECTED)
    def export_member(self, member_id: str) -> dict[str, Any]:
        """Everything this service holds about a member (the gateway adds the other services' parts)."""
        member_id = _member_id(member_id)
        self._check_self(member_id)
        with self.db.transaction() as tx:
            row = _require(tx, member_id)
            consents = store.consents_of(tx, member_id)
            consent_history = store.consent_log_of(tx, member_id)
            changes = store.history(tx, member_id)
        return {
            "profile": self._view(row).model_dump(mode="json"),
            "consents": [_consent(c).model_dump(mode="json") for c in consents],
            "consent_history": [{**_consent(c).model_dump(mode="json"), "actor_kind": c.actor_kind}
                                for c in consent_history],
            "change_history": [{"version": c.version, "changed_at": c.changed_at.isoformat(),
                                "actor_kind": c.actor_kind, "fields": c.fields} for c in changes],
        }

    @rpc(expected_exceptions=EXPECTED)
    def erase(self, member_id: str) -> dict[str, Any]:
        member_id = _member_id(member_id)
        with self.db.transaction() as tx:
            row = _require(tx, member_id, for_update=True)
            if row.status == "erased":
                return self._view(row).model_dump(mode="json")  # erasing twice changes nothing
            erased = store.erase(tx, member_id)
            store.record_change(tx, member_id, erased.version, self.caller.kind, self.caller.id,
                                {"erased": {"changed": True}})
            tx.emit(MemberErased(member_id=member_id, erased_at=erased.updated_at))
            for earlier in store.merged_into(tx, member_id):  # the person's merged records go too
                gone = store.erase(tx, earlier)
                tx.emit(MemberErased(member_id=earlier, erased_at=gone.updated_at))
        log.info("member erased", extra={"member_id": member_id, "caller": self.caller.kind})
        return self._view(erased).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def merge(self, survivor_id: str, merged_id: str) -> dict[str, Any]:
        survivor_id, merged_id = _member_id(survivor_id), _member_id(merged_id)
        if survivor_id == merged_id:
            raise InvalidInput("a member cannot be merged into itself", "merged_member_id")
        with self.db.transaction() as tx:
            first, second = sorted([survivor_id, merged_id])  # lock in a fixed order: no deadlock
            rows = {r.id: r for r in (store.get(tx, first, for_update=True), store.get(tx, second, for_update=True))
                    if r is not None}
            survivor, merged = rows.get(survivor_id), rows.get(merged_id)
            if survivor is None or merged is None:
                raise NotFound("no such member", "member_id" if survivor is None else "merged_member_id")
            if merged.status == "merged" and str(merged.merged_into) == survivor_id and survivor.status != "merged":
                return self._view(survivor).model_dump(mode="json")  # merged already (a retry): same answer
            for row, field in ((survivor, "member_id"), (merged, "merged_member_id")):
                if row.status not in ("active", "frozen"):
                    raise Conflict(f"member {row.id} is {row.status}", field)
            tags = sorted(set(survivor.tags) | set(merged.tags))[: domain.MAX_TAGS]
            updated = store.update(tx, survivor_id, survivor.version, {"tags": tags})
            if tags != sorted(survivor.tags):
                tx.emit(MemberUpdated(member_id=survivor_id, version=updated.version, changed_fields=["tags"],
                                      status=updated.status, tags=tags))
            gone = store.mark_merged(tx, merged_id, survivor_id)
            store.record_change(tx, merged_id, gone.version, self.caller.kind, self.caller.id,
                                {"merged_into": {"from": None, "to": survivor_id}})
            store.record_change(tx, survivor_id, updated.version, self.caller.kind, self.caller.id,
                                {"merged_from": {"from": None, "to": merged_id}})
            tx.emit(MemberMerged(survivor_id=survivor_id, merged_id=merged_id,
                                 merged_member_number=merged.member_number, merged_at=gone.updated_at))
        return self._view(updated).model_dump(mode="json")

    @rpc(expected_exceptions=EXPECTED)
    def bulk_tags(self, **request: Any) -> dict[str, Any]:
        cmd: BulkTags = parse_request(BulkTags, request)
        add, remove = domain.clean_tags(cmd.add), domain.clean_tags(cmd.remove)
        if not add and not remove:
            raise InvalidInput("give tags to add or remove", "add")
        query = cmd.filter
        bidx = None if query.phone is None else self.cipher.blind_index(domain.normalize_phone(query.phone), "phone")
        with self.db.transaction() as tx:
            changed = store.bulk_tags(tx, query.model_dump(), bidx, add, remove)
            tags_change = {"tags": {"added": add, "removed": remove}}
            store.record_changes(tx, [{"member_id": r.id, "version": r.version, "actor_kind": self.caller.kind,
                                       "actor_id": self.caller.id, "fields": tags_change} for r in changed])
            tx.emit_many([MemberUpdated(member_id=str(r.id), version=r.version, changed_fields=["tags"],
                                        status=r.status, tags=list(r.tags)) for r in changed])
        return {"members_changed": len(changed)}

    @timer(interval=env_int("BIRTHDAY_JOB_SECONDS", 3600), eager=True)
    def birthday_job(self) -> None:
        self.run_birthdays()

    @rpc(expected_exceptions=EXPECTED)
    def run_birthdays(self, at: str | None = None) -> dict[str, int]:
        """Emit member.birthday for members whose birthday is today in their store's time zone,
        once per member per year however often this runs. ``at`` (ISO time) is for tests and
        catching up; the timer runs it hourly."""
        try:
            instant = datetime.fromisoformat(at) if at else datetime.now(UTC)
        except ValueError:
            raise InvalidInput("an ISO-8601 time with a zone", "at") from None
        if instant.tzinfo is None:
            raise InvalidInput("give a time zone", "at")
        emitted = 0
        zones = StoreZones.from_env()
        for zone in sorted(zones.zones()):
            local = instant.astimezone(ZoneInfo(zone)).date()
            leap_day_today = local.month == 2 and local.day == 28 and not _is_leap(local.year)
            with self.db.transaction() as tx:
                candidates = [c for c in store.birthday_candidates(tx, local.month, local.day, leap_day_today)
                              if zones.zone_of(c.registration_store) == zone
                              and domain.birthday_today(c.birthday, local)]
                claimed = store.claim_birthdays(tx, [str(c.id) for c in candidates], local.year)
                tx.emit_many([MemberBirthday(member_id=str(c.id), year=local.year, local_date=local,
                                             registration_store=c.registration_store)
                              for c in candidates if str(c.id) in claimed])
            emitted += len(claimed)
        return {"emitted": emitted}


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _follow(tx: Any, row: Any) -> Any:
    """A merged member's row leads to the member it was merged into."""
    for _ in range(5):
        if row is None or row.status != "merged" or row.merged_into is None:
            return row
        row = store.get(tx, str(row.merged_into))
    return row


def _job(row: Any) -> ImportJob:
    return ImportJob(job_id=str(row.id), source=row.source, format=row.format, encoding=row.encoding,
                     status=row.status, rows_total=row.rows_total, rows_created=row.rows_created,
                     rows_existing=row.rows_existing, rows_failed=row.rows_failed, error=row.error,
                     created_at=row.created_at, finished_at=row.finished_at)


def _consent(row: Any) -> Consent:
    return Consent(channel=row.channel, granted=row.granted, changed_at=row.changed_at, source=row.source,
                   text_version=row.text_version)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
