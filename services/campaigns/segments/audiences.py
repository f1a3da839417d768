"""Segments and their audiences: definitions, previews, snapshots, exports of member ids, and a
coupon to each member of a segment."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from contracts import paging
from contracts.access import id_or_none, parse_id
from contracts.campaigns import (
    BREAKDOWN_FIELDS,
    GroupCount,
    MemberIdPage,
    SampleMember,
    SegmentBreakdown,
    SegmentIn,
    SegmentOut,
    SegmentPreview,
    SnapshotOut,
)
from contracts.errors import Conflict, InvalidInput, NotFound
from service_runtime.db import Tx, WorkerDb
from services.campaigns.coupons import interface as coupons
from services.campaigns.segments import repo
from services.campaigns.segments.rules import Group, parse_rule, to_json


def today(at: str | None) -> date:
    if at is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(at)
    except ValueError:
        raise InvalidInput("must be a date YYYY-MM-DD", "at") from None


def segment_out(row: Any) -> dict[str, Any]:
    return SegmentOut(segment_id=str(row.id), name=row.name, rule=row.rule, created_by=row.created_by,
                      created_at=row.created_at).model_dump(mode="json")


def rule_of(tx: Tx, segment_id: str) -> tuple[Any, Group]:
    row = repo.get_segment(tx, parse_id(segment_id, "segment_id"))
    if row is None:
        raise NotFound("no such segment", "segment_id")
    return row, parse_rule(row.rule)


def create(db: WorkerDb, cmd: SegmentIn, created_by: str | None) -> dict[str, Any]:
    rule = to_json(parse_rule(cmd.rule))
    segment_id = parse_id(cmd.segment_id, "segment_id") if cmd.segment_id else str(uuid.uuid4())
    with db.transaction() as tx:
        row = repo.add_segment(tx, segment_id, cmd.name, rule, created_by)
    if row.rule != rule or row.name != cmd.name:
        raise Conflict("this segment id exists with another definition", "segment_id")
    return segment_out(row)


def page(tx: Tx, limit: int, after: list[str] | None) -> dict[str, Any]:
    """A page of segments, oldest first: {"items", "next"} (``next``: pass as ``after``)."""
    limit = paging.check_limit(limit)
    start = paging.position(after, paging.SEGMENT_POSITION)
    rows = repo.list_segments(tx, limit + 1, start)
    rows, more = paging.cut(rows, limit, lambda r: [r.created_at.isoformat(), str(r.id)])
    return {"items": [segment_out(r) for r in rows], "next": more}


def check_sample(sample: int) -> None:
    if isinstance(sample, bool) or not isinstance(sample, int) or not 0 <= sample <= 100:
        raise InvalidInput("must be 0 to 100", "sample")


def preview(tx: Tx, rule: Group, sample: int, day: date) -> dict[str, Any]:
    size, rows = repo.preview(tx, rule, day, sample)
    return SegmentPreview(size=size, sample=[SampleMember(
        member_id=str(r.member_id), tier=r.tier, store=r.store, balance=r.balance,
        last_purchase_at=r.last_purchase_at, rfm_group=r.rfm_group, abcd=r.abcd, lifecycle=r.lifecycle)
        for r in rows]).model_dump(mode="json")


def breakdown(tx: Tx, rule: Group | None, by: Any, day: date) -> dict[str, Any]:
    if not isinstance(by, list) or not by or len(set(by)) != len(by) or set(by) - set(BREAKDOWN_FIELDS):
        raise InvalidInput(f"a list of {', '.join(BREAKDOWN_FIELDS)} (each once)", "by")
    total, groups = repo.breakdown(tx, rule, day, by)
    def order(row: tuple[str | None, int]) -> tuple[bool, str]:
        return row[0] is None, row[0] or ""  # unscored last

    return SegmentBreakdown(total=total, by={field: [GroupCount(value=value, members=n) for value, n in
                                                     sorted(rows, key=order)]
                                             for field, rows in groups.items()}).model_dump(mode="json")


def snapshot(db: WorkerDb, segment_id: str, snap_id: str, at: str | None) -> dict[str, Any]:
    """Materialise the segment's members now (a campaign's audience); idempotent by snapshot_id."""
    with db.transaction() as tx:
        segment, rule = rule_of(tx, segment_id)
        row = repo.take_snapshot(tx, snap_id, segment, rule, today(at))
    if str(row.segment_id) != str(segment.id):
        raise Conflict("this snapshot id belongs to another segment", "snapshot_id")
    return SnapshotOut(snapshot_id=str(row.id), segment_id=str(row.segment_id), size=row.size,
                       created_at=row.created_at).model_dump(mode="json")


def check_export_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
        raise InvalidInput("must be 1 to 100000", "limit")


def export(tx: Tx, segment_id: str, snapshot_id: str | None, after: str | None, limit: int,
           at: str | None) -> dict[str, Any]:
    """Member ids only (never personal data), paged by id: a snapshot's, or the live segment's."""
    segment, rule = rule_of(tx, segment_id)
    if snapshot_id:
        snap = repo.get_snapshot(tx, parse_id(snapshot_id, "snapshot_id"))
        if snap is None or str(snap.segment_id) != str(segment.id):
            raise NotFound("no such snapshot of this segment", "snapshot_id")
        ids = repo.snapshot_member_ids(tx, str(snap.id), after, limit + 1)
    else:
        ids = repo.member_ids(tx, rule, today(at), after, limit + 1)
    more = len(ids) > limit
    ids = ids[:limit]
    return MemberIdPage(member_ids=ids, next=ids[-1] if more else None).model_dump(mode="json")


def issue_coupons(tx: Tx, segment_id: str, template_id: str, snap_id: str, at: str | None) -> dict[str, Any]:
    """One coupon of a template to each member of the segment: the members are fixed in a snapshot
    and the coupon side issues them as a background job; a retry returns the first job."""
    segment, rule = rule_of(tx, segment_id)
    existing = repo.get_snapshot(tx, snap_id)
    snap = repo.take_snapshot(tx, snap_id, segment, rule, today(at))
    first = coupons.first_job_of(tx, snap_id) if existing is not None else None
    if first is not None:  # a retry: the job it started, not another one
        if first[1] != str(id_or_none(template_id)):
            raise Conflict("this request_id issued another template", "request_id")
        job_id = first[0]
    else:
        members = repo.snapshot_member_ids(tx, snap_id, None, 10_000_000)
        # the snapshot id doubles as the issue's campaign key: the coupon side dedupes per member too
        job_id = coupons.start_issue_job(tx, template_id, members, source="campaign", campaign_id=snap_id)
    return {"job_id": job_id, "snapshot_id": str(snap.id), "members": snap.size, "replayed": existing is not None}
