"""Bulk import of members from a file, batch by batch (the gateway reads the file)."""
from __future__ import annotations

from typing import Any

from contracts.access import Caller
from contracts.errors import Conflict, InvalidInput, NotFound
from contracts.events import MemberRegistered, MembersImported
from contracts.rpc import ImportBatch
from service_runtime.db import Tx, WorkerDb
from services.members import domain, repo
from services.members.crypto import FieldCipher
from services.members.views import today


def check_source(source: str) -> str:
    if not (1 <= len(source) <= 32) or not source.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput("1-32 letters, digits, - or _", "source")
    return source


def start(db: WorkerDb, caller: Caller, source: str, format: str, encoding: str) -> Any:
    check_source(source)
    with db.transaction() as tx:
        return repo.create_import_job(tx, repo.new_member_id(), source, format, encoding, caller.kind, caller.id)


def _job(tx: Tx, job_id: str) -> Any:
    job = repo.import_job(tx, job_id)
    if job is None:
        raise NotFound("no such import", "job_id")
    return job


def batch(db: WorkerDb, cipher: FieldCipher, job_id: str, batch: ImportBatch) -> Any:
    """Validate, encrypt and insert one batch in one transaction; counts go to the job."""
    day = today()
    with db.transaction() as tx:
        job = _job(tx, job_id)
        if job.status != "running":
            raise Conflict(f"the import is {job.status}", "job_id")
        if not repo.claim_import_batch(tx, job_id, batch.batch_no):
            return job  # a batch sent again: already counted
        errors: list[dict[str, Any]] = []
        pending: dict[str, dict[str, Any]] = {}
        for row in batch.rows:
            if "__error__" in row.fields:  # the gateway could not read this row
                errors.append({"line": row.line, "field": "row", "message": str(row.fields["__error__"])})
                continue
            try:
                clean = domain.import_row(row.fields, day)
            except InvalidInput as exc:
                errors.append({"line": row.line, "field": exc.field, "message": exc.message})
                continue
            bidx = cipher.blind_index(str(clean["phone"]), "phone")
            if bidx in pending:
                errors.append({"line": row.line, "field": "phone",
                               "message": f"same phone as line {pending[bidx]['import_line']} of this file"})
                continue
            pending[bidx] = _values(cipher, clean, bidx, job.source, job_id, row.line)
        numbers = repo.member_numbers(tx, len(pending)) if pending else []
        for values, number in zip(pending.values(), numbers, strict=True):
            values["member_number"] = number
        inserted = repo.insert_members(tx, list(pending.values()))
        created = {r.phone_bidx for r in inserted}
        existing = 0
        known = repo.existing_by_phone(tx, [b for b in pending if b not in created])
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
        repo.record_import_progress(tx, job_id, len(batch.rows), len(inserted), existing, errors)
        return repo.import_job(tx, job_id)


def _values(cipher: FieldCipher, clean: dict[str, Any], bidx: str, source: str, job_id: str,
            line: int) -> dict[str, Any]:
    member_id = repo.new_member_id()
    values: dict[str, Any] = {
        "id": member_id, "name": clean["name"], "gender": clean.get("gender"), "birthday": clean.get("birthday"),
        "phone_enc": cipher.encrypt(clean["phone"], member_id, "phone"), "phone_bidx": bidx,
        "email_enc": None, "email_bidx": None, "id_number_enc": None,
        "registration_store": clean.get("registration_store"), "channel": "import",
        "tags": clean.get("tags", []), "preferences": {},
        "external_id": f"{source}:{clean['external_id']}" if clean.get("external_id") else None,
        "import_job": job_id, "import_line": line,
    }
    if clean.get("email"):
        values["email_enc"] = cipher.encrypt(clean["email"], member_id, "email")
        values["email_bidx"] = cipher.blind_index(clean["email"].lower(), "email")
    if clean.get("id_number"):
        values["id_number_enc"] = cipher.encrypt(clean["id_number"], member_id, "id_number")
    return values


def finish(db: WorkerDb, job_id: str, error: str | None) -> Any:
    with db.transaction() as tx:
        repo.finish_import_job(tx, job_id, error)
        job = repo.import_job(tx, job_id)
    if job is None:
        raise NotFound("no such import", "job_id")
    return job


def status(db: WorkerDb, job_id: str) -> Any:
    with db.transaction() as tx:
        return _job(tx, job_id)


def errors(db: WorkerDb, job_id: str, after_line: int, limit: int) -> list[Any]:
    with db.transaction() as tx:
        return repo.import_errors_of(tx, job_id, after_line, max(1, min(limit, 1000)))
