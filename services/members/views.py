"""Rows shaped into the contract models the service answers with (contact fields decrypted)."""
from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from prometheus_client import Counter

from contracts.rpc import Consent, ImportJob, Member
from services.members.crypto import FieldCipher

log = logging.getLogger(__name__)
UNREADABLE_FIELDS = Counter("loyalty_members_unreadable_fields_total",
                            "Member contact fields that did not decrypt when listed (alert on any)", ["field"])


def today() -> date:
    return datetime.now(UTC).date()


def member(row: Any, cipher: FieldCipher, tolerant: bool = False) -> Member:
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
            return cipher.decrypt(stored, str(row.id), field)
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
        created_at=row.created_at, updated_at=row.updated_at, unreadable=unreadable, lifecycle=row.lifecycle,
        last_purchase_at=row.last_purchase_at, purchase_count=row.purchase_count,
    )


def job(row: Any) -> ImportJob:
    return ImportJob(job_id=str(row.id), source=row.source, format=row.format, encoding=row.encoding,
                     status=row.status, rows_total=row.rows_total, rows_created=row.rows_created,
                     rows_existing=row.rows_existing, rows_failed=row.rows_failed, error=row.error,
                     created_at=row.created_at, finished_at=row.finished_at)


def consent(row: Any) -> Consent:
    return Consent(channel=row.channel, granted=row.granted, changed_at=row.changed_at, source=row.source,
                   text_version=row.text_version)
