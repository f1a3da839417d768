"""The only code that touches the members tables."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts.errors import NotFound
from service_runtime.bulk import insert_rows
from service_runtime.db import Tx
from services.members import domain
from services.members.tables import (
    birthday_greetings,
    consent_log,
    consents,
    import_batches,
    import_errors,
    import_jobs,
    member_changes,
    member_number_seq,
    members,
)


def register(tx: Tx, values: dict[str, Any], phone_bidx: str) -> tuple[Any, bool]:
    """Insert a member (values hold encrypted fields already), or return the one holding this
    phone: (row, created)."""
    number = domain.member_number(tx.execute(sa.select(member_number_seq.next_value())).scalar_one())
    inserted = tx.execute(
        pg_insert(members).values(**values, member_number=number, phone_bidx=phone_bidx)
        .on_conflict_do_nothing(index_elements=["phone_bidx"]).returning(*members.c)
    ).first()
    if inserted is not None:
        return inserted, True
    return tx.execute(sa.select(members).where(members.c.phone_bidx == phone_bidx)).one(), False


def get(tx: Tx, member_id: str, *, for_update: bool = False) -> Any | None:
    query = sa.select(members).where(members.c.id == member_id)
    return tx.execute(query.with_for_update() if for_update else query).first()


def require(tx: Tx, member_id: str, *, for_update: bool = False) -> Any:
    """The member's row, or NotFound."""
    row = get(tx, member_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no member {member_id}", "member_id")
    return row


def follow(tx: Tx, row: Any) -> Any:
    """A merged member's row leads to the member it was merged into."""
    for _ in range(5):
        if row is None or row.status != "merged" or row.merged_into is None:
            return row
        row = get(tx, str(row.merged_into))
    return row


def by_phone(tx: Tx, phone_bidx: str) -> Any | None:
    return tx.execute(sa.select(members).where(members.c.phone_bidx == phone_bidx)).first()


def phone_taken_by_other(tx: Tx, phone_bidx: str, member_id: str) -> bool:
    return tx.execute(sa.select(members.c.id).where(members.c.phone_bidx == phone_bidx,
                                                    members.c.id != member_id)).first() is not None


def update(tx: Tx, member_id: str, expected_version: int, values: dict[str, Any]) -> Any:
    """The row after the change (callers hold its lock, so the version still matches)."""
    return tx.execute(
        members.update().where(members.c.id == member_id, members.c.version == expected_version)
        .values(**values, version=members.c.version + 1, updated_at=sa.func.now()).returning(*members.c)
    ).first()


def record_change(tx: Tx, member_id: str, version: int, actor_kind: str, actor_id: str | None,
                  fields: dict[str, Any]) -> None:
    tx.execute(member_changes.insert().values(member_id=member_id, version=version, actor_kind=actor_kind,
                                              actor_id=actor_id, fields=fields))


def history(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.select(member_changes).where(member_changes.c.member_id == member_id)
                           .order_by(member_changes.c.version)).all())


def search(tx: Tx, filters: dict[str, Any], phone_bidx: str | None, limit: int,
           after: tuple[datetime, str] | None, for_update: bool = False) -> list[Any]:
    """Members by registration time then id (keyset pagination); every filter uses an index."""
    q = sa.select(members).order_by(members.c.created_at, members.c.id).limit(limit)
    if phone_bidx is not None:
        q = q.where(members.c.phone_bidx == phone_bidx)
    if filters.get("member_number"):
        q = q.where(members.c.member_number == filters["member_number"])
    if filters.get("name_prefix"):
        few = _few_named(tx, filters["name_prefix"])
        q = q.where(_named(filters["name_prefix"]) if few is None else members.c.id.in_(few))
    if filters.get("tag"):
        q = q.where(members.c.tags.contains([filters["tag"]]))
    if filters.get("store"):
        q = q.where(members.c.registration_store == filters["store"])
    if filters.get("stores") is not None:
        q = q.where(members.c.registration_store.in_(filters["stores"]))
    if filters.get("status"):
        q = q.where(members.c.status == filters["status"])
    if filters.get("lifecycle"):
        q = q.where(members.c.lifecycle == filters["lifecycle"])
    if filters.get("birthday_month"):
        q = q.where(sa.extract("month", members.c.birthday) == filters["birthday_month"])
    if filters.get("registered_from"):
        q = q.where(members.c.created_at >= filters["registered_from"])
    if filters.get("registered_to"):
        q = q.where(members.c.created_at < filters["registered_to"])
    if after is not None:
        q = q.where(sa.tuple_(members.c.created_at, members.c.id) > after)
    return list(tx.execute(q.with_for_update() if for_update else q).all())


NAME_PROBE = 2000  # a prefix with fewer members than this is searched by name first, then ordered


def _named(prefix: str) -> Any:
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.func.lower(members.c.name).like(escaped + "%", escape="\\")


def _few_named(tx: Tx, prefix: str) -> list[Any] | None:
    """The ids of members whose name starts so, when there are few (one short walk of the name
    index); None when there are many. Ordered by registration, a rare name would otherwise scan the
    whole table in that order looking for it (seconds at a million members); a common one is found
    at once in that order."""
    ids = tx.execute(sa.select(members.c.id).where(_named(prefix))
                     .order_by(sa.text("lower(name) USING ~<~")).limit(NAME_PROBE + 1)).scalars().all()
    return list(ids) if len(ids) <= NAME_PROBE else None


def set_consent(tx: Tx, member_id: str, channel: str, granted: bool, source: str, text_version: str,
                actor_kind: str, actor_id: str | None) -> tuple[Any, bool]:
    """Record a consent decision: (current row, whether it changed anything)."""
    current = tx.execute(sa.select(consents).where(consents.c.member_id == member_id,
                                                   consents.c.channel == channel).with_for_update()).first()
    changed = current is None or current.granted != granted or current.text_version != text_version
    now = tx.execute(sa.select(sa.func.now())).scalar_one()
    if changed:
        values = {"granted": granted, "changed_at": now, "source": source, "text_version": text_version}
        tx.execute(pg_insert(consents).values(member_id=member_id, channel=channel, **values)
                   .on_conflict_do_update(index_elements=["member_id", "channel"], set_=values))
        tx.execute(consent_log.insert().values(member_id=member_id, channel=channel, actor_kind=actor_kind,
                                               actor_id=actor_id, **values))
    row = tx.execute(sa.select(consents).where(consents.c.member_id == member_id,
                                               consents.c.channel == channel)).one()
    return row, changed


def consents_of(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.select(consents).where(consents.c.member_id == member_id)
                           .order_by(consents.c.channel)).all())


def new_member_id() -> str:
    return str(uuid.uuid4())


# -- bulk import --------------------------------------------------------------------------
def create_import_job(tx: Tx, job_id: str, source: str, fmt: str, encoding: str, actor_kind: str,
                      actor_id: str | None) -> Any:
    return tx.execute(import_jobs.insert().values(id=job_id, source=source, format=fmt, encoding=encoding,
                                                  status="running", actor_kind=actor_kind, actor_id=actor_id)
                      .returning(*import_jobs.c)).one()


def import_job(tx: Tx, job_id: str) -> Any | None:
    return tx.execute(sa.select(import_jobs).where(import_jobs.c.id == job_id)).first()


def claim_import_batch(tx: Tx, job_id: str, batch_no: int) -> bool:
    return tx.execute(pg_insert(import_batches).values(job_id=job_id, batch_no=batch_no)
                      .on_conflict_do_nothing()).rowcount == 1


def member_numbers(tx: Tx, count: int) -> list[str]:
    values = tx.execute(sa.select(sa.func.nextval("member_number_seq"))
                        .select_from(sa.func.generate_series(1, count))).scalars().all()
    return [domain.member_number(v) for v in values]


def insert_members(tx: Tx, rows: list[dict[str, Any]]) -> list[Any]:
    """Insert what is new; rows whose phone or external id exist already are skipped (not returned)."""
    if not rows:
        return []
    rows = sorted(rows, key=lambda r: r["phone_bidx"])  # one lock order for every batch: no deadlocks
    return insert_rows(tx, members, rows, on_conflict_do_nothing=True, returning=[
        members.c.id, members.c.member_number, members.c.registration_store, members.c.channel,
        members.c.created_at, members.c.phone_bidx, members.c.gender, members.c.birthday, members.c.tags])


def existing_by_phone(tx: Tx, phone_bidxs: list[str]) -> dict[str, Any]:
    if not phone_bidxs:
        return {}
    found = tx.execute(sa.select(members.c.phone_bidx, members.c.import_job, members.c.import_line)
                       .where(members.c.phone_bidx.in_(phone_bidxs))).all()
    return {r.phone_bidx: r for r in found}


def record_import_progress(tx: Tx, job_id: str, total: int, created: int, existing: int,
                           errors: list[dict[str, Any]]) -> None:
    tx.execute(import_jobs.update().where(import_jobs.c.id == job_id).values(
        rows_total=import_jobs.c.rows_total + total, rows_created=import_jobs.c.rows_created + created,
        rows_existing=import_jobs.c.rows_existing + existing, rows_failed=import_jobs.c.rows_failed + len(errors)))
    if errors:
        tx.execute(pg_insert(import_errors).on_conflict_do_nothing(), [{"job_id": job_id, **e} for e in errors])


def finish_import_job(tx: Tx, job_id: str, error: str | None) -> Any | None:
    return tx.execute(import_jobs.update().where(import_jobs.c.id == job_id, import_jobs.c.status == "running")
                      .values(status="failed" if error else "done", error=error, finished_at=sa.func.now())
                      .returning(*import_jobs.c)).first()


def import_errors_of(tx: Tx, job_id: str, after_line: int, limit: int) -> list[Any]:
    return list(tx.execute(sa.select(import_errors).where(import_errors.c.job_id == job_id,
                                                          import_errors.c.line > after_line)
                           .order_by(import_errors.c.line).limit(limit)).all())


# -- erase, merge, bulk edit, birthdays -----------------------------------------------------
def merged_into(tx: Tx, member_id: str) -> list[str]:
    """Every member merged (directly or not) into this one."""
    found, frontier = [], [member_id]
    while frontier:
        rows = tx.execute(sa.select(members.c.id).where(members.c.merged_into.in_(frontier))).scalars().all()
        frontier = [str(r) for r in rows if str(r) not in found]
        found += frontier
    return found


def erase(tx: Tx, member_id: str) -> Any:
    """Anonymise irreversibly: personal fields gone, the row (id, number, store, dates) kept."""
    row = tx.execute(members.update().where(members.c.id == member_id).values(
        name="(erased)", gender=None, birthday=None, phone_enc=None, phone_bidx="erased:" + member_id,
        email_enc=None, email_bidx=None, id_number_enc=None, tags=[], preferences={}, external_id=None,
        status="erased", version=members.c.version + 1, updated_at=sa.func.now(),
    ).returning(*members.c)).one()
    # the change history may hold old names, birthdays and tags: keep who/when, drop the values
    tx.execute(sa.text("UPDATE member_changes SET fields = (SELECT coalesce(jsonb_object_agg(key, "
                       "'{\"changed\": true}'::jsonb), '{}'::jsonb) FROM jsonb_object_keys(fields) AS key) "
                       "WHERE member_id = :id"), {"id": member_id})
    return row


def mark_merged(tx: Tx, merged_id: str, survivor_id: str) -> Any:
    return tx.execute(members.update().where(members.c.id == merged_id).values(
        status="merged", merged_into=survivor_id, version=members.c.version + 1, updated_at=sa.func.now(),
    ).returning(*members.c)).one()


def bulk_tags(tx: Tx, filters: dict[str, Any], phone_bidx: str | None, add: list[str],
              remove: list[str]) -> list[Any]:
    """Add and remove tags on every member the filters select (not merged or erased ones);
    returns the members that changed."""
    selected = search(tx, filters, phone_bidx, limit=10_000_000, after=None, for_update=True)
    changes = []
    for row in selected:
        tags = sorted((set(row.tags) | set(add)) - set(remove))[: domain.MAX_TAGS]
        if row.status in ("active", "frozen") and tags != sorted(row.tags):
            changes.append({"b_id": row.id, "b_version": row.version, "tags": tags})
    if not changes:
        return []
    tx.execute(members.update().where(members.c.id == sa.bindparam("b_id"),
                                      members.c.version == sa.bindparam("b_version"))
               .values(tags=sa.bindparam("tags"), version=members.c.version + 1, updated_at=sa.func.now()), changes)
    return list(tx.execute(sa.select(members.c.id, members.c.version, members.c.status, members.c.tags)
                           .where(members.c.id.in_([c["b_id"] for c in changes]))).all())


def record_changes(tx: Tx, rows: list[dict[str, Any]]) -> None:
    if rows:
        tx.execute(member_changes.insert(), rows)


def birthday_candidates(tx: Tx, month: int, day: int, include_feb_29: bool) -> list[Any]:
    days = [day, 29] if include_feb_29 else [day]
    return list(tx.execute(sa.select(members.c.id, members.c.registration_store, members.c.birthday).where(
        sa.extract("month", members.c.birthday) == month, sa.extract("day", members.c.birthday).in_(days),
        members.c.status == "active")).all())


def claim_birthdays(tx: Tx, member_ids: list[str], year: int) -> set[str]:
    """The members not greeted yet this year (now marked as greeted)."""
    if not member_ids:
        return set()
    claimed = tx.execute(pg_insert(birthday_greetings).on_conflict_do_nothing()
                         .returning(birthday_greetings.c.member_id),
                         [{"member_id": m, "year": year} for m in member_ids]).scalars().all()
    return {str(m) for m in claimed}


def consent_log_of(tx: Tx, member_id: str) -> list[Any]:
    return list(tx.execute(sa.select(consent_log).where(consent_log.c.member_id == member_id)
                           .order_by(consent_log.c.id)).all())


def identify(tx: Tx, member_ids: list[str], numbers: list[str]) -> list[Any]:
    """Members by id or card number: their ids, numbers, stores and statuses only."""
    return list(tx.execute(sa.select(members.c.id, members.c.member_number, members.c.registration_store,
                                     members.c.status)
                           .where(sa.or_(members.c.id.in_(member_ids), members.c.member_number.in_(numbers)))).all())
