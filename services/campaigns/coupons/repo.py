"""The only code that touches the coupon tables: templates, coupons, redemptions, issue jobs
(SQLAlchemy Core, plain SQL). The catalog's tables are catalog_repo's."""
from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from service_runtime.db import Tx
from services.campaigns.coupons import domain


def rules_of(terms: dict[str, Any]) -> domain.Rules:
    def money(name: str) -> Decimal | None:
        value = terms.get(name)
        return None if value is None else Decimal(str(value))

    def names(name: str) -> tuple[str, ...] | None:
        value = terms.get(name)
        return None if value is None else tuple(value)

    # templates made before discount_percent said "percent", meaning the share taken off
    off = money("discount_percent") if terms.get("discount_percent") is not None else money("percent")
    return domain.Rules(kind=terms["kind"], amount=money("amount"), discount_percent=off,
                        max_discount=money("max_discount"), gift_sku=terms.get("gift_sku"),
                        gift_value=money("gift_value") or Decimal(0), min_spend=money("min_spend") or Decimal(0),
                        stores=names("stores"), categories=names("categories"), skus=names("skus"),
                        stackable=bool(terms.get("stackable")), regions=names("regions"), brands=names("brands"))


def _when(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# ---- templates ------------------------------------------------------------------------------------------
def add_template(tx: Tx, terms: dict[str, Any], face: Decimal, created_by: str | None) -> Any:
    return tx.execute(sa.text("""
        INSERT INTO coupon_templates (id, name, kind, terms, budget_count, budget_value, face_value,
                                      per_member_limit, created_by)
        VALUES (:id, :name, :kind, CAST(:terms AS jsonb), :bc, :bv, :face, :pml, :by) RETURNING *, 0 AS redeemed"""),
        {"id": str(uuid.uuid4()), "name": terms["name"], "kind": terms["kind"], "terms": json.dumps(terms),
         "bc": terms.get("budget_count"), "bv": terms.get("budget_value"), "face": face,
         "pml": terms.get("per_member_limit"), "by": created_by}).one()


# redeemed coupons are counted when read, not kept on the template row: a counter there made every
# redemption of a template wait for the one before it (one hot row)
_REDEEMED = """(SELECT count(*) FROM coupons c WHERE c.template_id = t.id AND c.state = 'redeemed')"""


def get_template(tx: Tx, template_id: str, lock: bool = False) -> Any:
    if lock:
        return tx.execute(sa.text("SELECT * FROM coupon_templates WHERE id = :id FOR UPDATE"),
                          {"id": template_id}).one_or_none()
    return tx.execute(sa.text(f"SELECT t.*, {_REDEEMED} AS redeemed FROM coupon_templates t WHERE t.id = :id"),
                      {"id": template_id}).one_or_none()


def templates(tx: Tx, limit: int = 500, after: tuple[datetime, str] | None = None) -> list[Any]:
    """Newest first (created_at, then id), after a (created_at, id) position."""
    where = "WHERE (t.created_at, t.id) < (:at, CAST(:id AS uuid))" if after else ""
    return list(tx.execute(sa.text(f"""SELECT t.*, {_REDEEMED} AS redeemed FROM coupon_templates t {where}
                                       ORDER BY t.created_at DESC, t.id DESC LIMIT :n"""),
                           {"n": limit, "at": after[0] if after else None, "id": after[1] if after else None}))


# ---- issuing ----------------------------------------------------------------------------------------------
@dataclass
class Issued:
    coupons: list[Any]                 # rows inserted now (id, member_id, code, issue_key)
    skipped: dict[str, str]            # issue_key -> why (already, per_member_limit, budget_count, budget_value)


def issue(tx: Tx, template: Any, members: Sequence[str], keys: Sequence[str], *, source: str,
          campaign_id: str | None, job_id: str | None, now: datetime) -> Issued:
    """One coupon of ``template`` (its row locked FOR UPDATE by the caller) per (member, key): a key
    already used is skipped, as are members at their per-member limit and whatever the budget no
    longer covers. Inserts in one statement; the template's counters follow."""
    skipped: dict[str, str] = {}
    existing = {r.issue_key for r in tx.execute(sa.text(
        "SELECT issue_key FROM coupons WHERE issue_key = ANY(CAST(:k AS text[]))"), {"k": list(keys)})}
    pairs = []
    seen_keys: set[str] = set()
    for member, key in zip(members, keys, strict=True):
        if key in existing or key in seen_keys:
            skipped[key] = "already"
        else:
            seen_keys.add(key)
            pairs.append((member, key))
    if template.per_member_limit is not None and pairs:
        held = {str(r.member_id): int(r.n) for r in tx.execute(sa.text("""
            SELECT member_id, count(*) AS n FROM coupons
            WHERE template_id = :t AND member_id = ANY(CAST(:m AS uuid[])) GROUP BY member_id"""),
            {"t": template.id, "m": list({m for m, _ in pairs})})}
        kept = []
        for member, key in pairs:
            if held.get(member, 0) >= template.per_member_limit:
                skipped[key] = "per_member_limit"
            else:
                held[member] = held.get(member, 0) + 1
                kept.append((member, key))
        pairs = kept
    face = Decimal(template.face_value)
    room = len(pairs)
    reason = "budget_count"
    if template.budget_count is not None:
        room = min(room, max(0, int(template.budget_count) - int(template.issued_count)))
    if template.budget_value is not None and face > 0:
        by_value = int((Decimal(template.budget_value) - Decimal(template.issued_value)) // face)
        if by_value < room:
            room, reason = max(0, by_value), "budget_value"
    for _, key in pairs[room:]:
        skipped[key] = reason
    pairs = pairs[:room]
    if not pairs:
        return Issued([], skipped)
    terms = template.terms
    valid_from, valid_until = domain.window(now, _when(terms.get("valid_from")), _when(terms.get("valid_until")),
                                            terms.get("valid_days"))
    rows = list(tx.execute(sa.text("""
        INSERT INTO coupons (id, code, template_id, member_id, source, campaign_id, job_id, issue_key,
                             valid_from, valid_until, issued_at)
        SELECT gen_random_uuid(), x.c, :t, x.m, :src, :camp, :job, x.k, :vf, :vu, :now
        FROM unnest(CAST(:codes AS text[]), CAST(:members AS uuid[]), CAST(:keys AS text[])) AS x(c, m, k)
        ON CONFLICT (issue_key) DO NOTHING
        RETURNING id, member_id, code, issue_key, valid_from, valid_until, issued_at"""),
        {"t": template.id, "src": source, "camp": campaign_id, "job": job_id, "vf": valid_from, "vu": valid_until,
         "now": now, "codes": domain.new_codes(len(pairs)), "members": [m for m, _ in pairs],
         "keys": [k for _, k in pairs]}))
    inserted = {r.issue_key for r in rows}
    for _, key in pairs:
        if key not in inserted:
            skipped[key] = "already"
    if rows:
        tx.execute(sa.text("""UPDATE coupon_templates SET issued_count = issued_count + :n,
                              issued_value = issued_value + :v WHERE id = :t"""),
                   {"n": len(rows), "v": face * len(rows), "t": template.id})
    return Issued(rows, skipped)


# the store of a redemption lives on the redemption: a coupon's own row has only its id
COUPON_VIEW = """
    SELECT c.*, t.name, t.kind, t.terms, r.store AS redeemed_store
    FROM coupons c JOIN coupon_templates t ON t.id = c.template_id
    LEFT JOIN coupon_redemptions r ON r.id = c.redemption_id"""


def coupon_by_key(tx: Tx, issue_key: str) -> Any:
    return tx.execute(sa.text(COUPON_VIEW + " WHERE c.issue_key = :k"), {"k": issue_key}).one_or_none()


def coupon_by_id(tx: Tx, coupon_id: str) -> Any:
    return tx.execute(sa.text(COUPON_VIEW + " WHERE c.id = :i"), {"i": coupon_id}).one_or_none()


# what a member sees (domain.status) as SQL, so a filtered page is cut after filtering
_STATUS_SQL = {
    "used": "c.state = 'redeemed'",
    "void": "c.state = 'void'",
    "expired": "c.state = 'issued' AND :now >= c.valid_until",
    "not_yet_valid": "c.state = 'issued' AND :now < c.valid_from",
    "valid": "c.state = 'issued' AND c.valid_from <= :now AND :now < c.valid_until",
}


def member_coupons(tx: Tx, member_id: str, limit: int, status: str | None = None, now: datetime | None = None,
                   after: tuple[datetime, str] | None = None) -> list[Any]:
    """Newest first (issued_at, then id), optionally of one status, after a (issued_at, id) position."""
    where = ["c.member_id = :m"]
    if status is not None:
        where.append(_STATUS_SQL[status])
    if after is not None:
        where.append("(c.issued_at, c.id) < (:after_at, CAST(:after_id AS uuid))")
    return list(tx.execute(sa.text(COUPON_VIEW + " WHERE " + " AND ".join(where)
                                   + " ORDER BY c.issued_at DESC, c.id DESC LIMIT :n"),
                           {"m": member_id, "n": limit, "now": now, "after_at": after[0] if after else None,
                            "after_id": after[1] if after else None}))


def lock_codes(tx: Tx, codes: Sequence[str]) -> dict[str, Any]:
    """The coupons with these codes and their template terms, locked (in code order: no deadlocks)."""
    rows = tx.execute(sa.text("""
        SELECT c.id, c.code, c.template_id, c.member_id, c.state, c.campaign_id, c.valid_from, c.valid_until,
               t.kind, t.terms
        FROM coupons c JOIN coupon_templates t ON t.id = c.template_id
        WHERE c.code = ANY(CAST(:codes AS text[])) ORDER BY c.code FOR UPDATE OF c"""), {"codes": list(codes)})
    return {r.code: r for r in rows}


def find_codes(tx: Tx, codes: Sequence[str]) -> dict[str, Any]:
    rows = tx.execute(sa.text("""
        SELECT c.id, c.code, c.template_id, c.member_id, c.state, c.campaign_id, c.valid_from, c.valid_until,
               t.kind, t.terms
        FROM coupons c JOIN coupon_templates t ON t.id = c.template_id
        WHERE c.code = ANY(CAST(:codes AS text[]))"""), {"codes": list(codes)})
    return {r.code: r for r in rows}


# ---- redemption ---------------------------------------------------------------------------------------------
def get_redemption(tx: Tx, store: str, transaction_id: str, lock: bool = False) -> Any:
    return tx.execute(sa.text("SELECT * FROM coupon_redemptions WHERE store = :s AND transaction_id = :t"
                              + (" FOR UPDATE" if lock else "")), {"s": store, "t": transaction_id}).one_or_none()


# the redemption and its coupons in one statement (one round trip fewer at every checkout); the
# coupons change only when the redemption went in, as two statements did with the second skipped
_RECORD_REDEMPTION = sa.text("""
    WITH r AS (
        INSERT INTO coupon_redemptions (id, store, transaction_id, terminal, request_hash, result, coupon_ids,
                                        discount, redeemed_at)
        VALUES (:id, :store, :transaction_id, :terminal, :request_hash, CAST(:result AS jsonb),
                CAST(:coupon_ids AS uuid[]), :discount, :redeemed_at)
        ON CONFLICT (store, transaction_id) DO NOTHING RETURNING id),
    c AS (
        UPDATE coupons c SET state = 'redeemed', redemption_id = r.id, redeemed_at = :redeemed_at, discount = x.d
        FROM r, unnest(CAST(:ids AS uuid[]), CAST(:ds AS numeric[])) AS x(i, d) WHERE c.id = x.i RETURNING c.id)
    SELECT (SELECT id FROM r) AS id, (SELECT count(*) FROM c) AS coupons""")


def record_redemption(tx: Tx, row: dict[str, Any], applied: Sequence[tuple[str, Decimal]]) -> bool:
    """The redemption and its coupons marked used (with their discounts); False, and nothing
    changed, when another till recorded this (store, transaction_id) first."""
    found = tx.execute(_RECORD_REDEMPTION, {**row, "result": json.dumps(row["result"]),
                                            "ids": [i for i, _ in applied], "ds": [d for _, d in applied]}).one()
    return found.id is not None


def redemption_coupons(tx: Tx, redemption: Any) -> list[Any]:
    return list(tx.execute(sa.text("""
        SELECT c.id, c.code, c.template_id, c.member_id, c.campaign_id, c.discount, t.terms
        FROM coupons c JOIN coupon_templates t ON t.id = c.template_id
        WHERE c.id = ANY(CAST(:ids AS uuid[])) AND c.redemption_id = :r ORDER BY c.code FOR UPDATE OF c"""),
        {"ids": [str(i) for i in redemption.coupon_ids], "r": redemption.id}))


def restore(tx: Tx, coupon_ids: Sequence[str]) -> None:
    """Give redeemed coupons back; one whose member was erased since (coupons are always issued to
    a member, so no member means erased) comes back void: nobody may use it."""
    if not coupon_ids:
        return
    tx.execute(sa.text("""UPDATE coupons SET state = CASE WHEN member_id IS NULL THEN 'void' ELSE 'issued' END,
                          redemption_id = NULL, redeemed_at = NULL, discount = NULL
                          WHERE id = ANY(CAST(:ids AS uuid[]))"""), {"ids": list(coupon_ids)})


def mark_refunded(tx: Tx, redemption_id: str, result: dict[str, Any], at: datetime) -> None:
    tx.execute(sa.text("""UPDATE coupon_redemptions SET state = 'refunded', refund_result = CAST(:r AS jsonb),
                          refunded_at = :at WHERE id = :id"""),
               {"r": json.dumps(result), "at": at, "id": redemption_id})


def campaign_stats(tx: Tx, campaign_id: str) -> tuple[int, list[Any]]:
    issued = int(tx.execute(sa.text("SELECT count(*) FROM coupons WHERE campaign_id = :c"),
                            {"c": campaign_id}).scalar_one())
    used = list(tx.execute(sa.text("""
        SELECT c.member_id, r.store, c.discount FROM coupons c JOIN coupon_redemptions r ON r.id = c.redemption_id
        WHERE c.campaign_id = :c AND c.state = 'redeemed'"""), {"c": campaign_id}))
    return issued, used


# ---- jobs -----------------------------------------------------------------------------------------------------
def add_job(tx: Tx, template_id: str, members: list[str], source: str, campaign_id: str | None,
            created_by: str | None, occurrence: int | None = None) -> str:
    job_id = str(uuid.uuid4())
    tx.execute(sa.text("""
        INSERT INTO coupon_jobs (id, template_id, campaign_id, source, member_ids, total, created_by, occurrence)
        VALUES (:id, :t, :c, :s, CAST(:m AS uuid[]), :n, :by, :o)"""),
        {"id": job_id, "t": template_id, "c": campaign_id, "s": source, "m": members, "n": len(members),
         "by": created_by, "o": occurrence})
    return job_id


def first_job_of(tx: Tx, campaign_id: str) -> tuple[str, str] | None:
    row = tx.execute(sa.text("SELECT id, template_id FROM coupon_jobs WHERE campaign_id = :c "
                             "ORDER BY created_at, id LIMIT 1"), {"c": campaign_id}).first()
    return None if row is None else (str(row.id), str(row.template_id))


def get_job(tx: Tx, job_id: str) -> Any:
    return tx.execute(sa.text("""SELECT id, template_id, campaign_id, source, status, total, position, issued, skipped,
                                 skipped_reasons, skipped_members, error, created_at, finished_at
                                 FROM coupon_jobs WHERE id = :id"""),
                      {"id": job_id}).one_or_none()


def claim_job(tx: Tx, chunk: int) -> tuple[Any, list[str]] | None:
    """The oldest open job not being worked on elsewhere (locked), and its next members."""
    job = tx.execute(sa.text("""
        SELECT id, template_id, campaign_id, source, position, total, occurrence, skipped_reasons, skipped_members
        FROM coupon_jobs
        WHERE status IN ('queued', 'running') ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED""")).one_or_none()
    if job is None:
        return None
    members = tx.execute(sa.text(
        "SELECT member_ids[CAST(:lo AS int) : CAST(:hi AS int)] FROM coupon_jobs WHERE id = :id"),
                         {"id": job.id, "lo": job.position + 1, "hi": job.position + chunk}).scalar_one()
    return job, [str(m) for m in (members or [])]


SKIPPED_MEMBERS_KEPT = 1000  # ids a job lists as no member (the count by reason has them all)


def advance_job(tx: Tx, job: Any, processed: int, issued: int, reasons: Sequence[str], not_members: dict[str, str],
                done: bool, now: datetime) -> None:
    """A chunk done: its counts, why members were skipped (by reason), and the first ids that are no
    member. The job row is locked (claim_job), so adding up here is safe."""
    counts = dict(job.skipped_reasons or {})
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    listed = list(job.skipped_members or [])
    listed += [[m, why] for m, why in not_members.items()][:max(0, SKIPPED_MEMBERS_KEPT - len(listed))]
    tx.execute(sa.text("""
        UPDATE coupon_jobs SET position = position + :p, issued = issued + :i, skipped = skipped + :s,
               skipped_reasons = CAST(:reasons AS jsonb), skipped_members = CAST(:members AS jsonb),
               status = CASE WHEN :done THEN 'done' ELSE 'running' END,
               finished_at = CASE WHEN :done THEN CAST(:now AS timestamptz) END
        WHERE id = :id"""), {"p": processed, "i": issued, "s": len(reasons), "reasons": json.dumps(counts),
                             "members": json.dumps(listed), "done": done, "now": now, "id": job.id})


def fail_job(tx: Tx, job_id: str, error: str, now: datetime) -> None:
    tx.execute(sa.text("UPDATE coupon_jobs SET status = 'failed', error = :e, finished_at = :now WHERE id = :id"),
               {"e": error[:500], "now": now, "id": job_id})


# ---- member lifecycle -------------------------------------------------------------------------------------------
def move_member(tx: Tx, merged_id: str, survivor_id: str) -> int:
    moved = tx.execute(sa.text("UPDATE coupons SET member_id = :s WHERE member_id = :m"),
                       {"s": survivor_id, "m": merged_id}).rowcount
    tx.execute(sa.text("""
        UPDATE catalog_exchanges e SET member_id = :s WHERE member_id = :m AND NOT EXISTS
            (SELECT 1 FROM catalog_exchanges o WHERE o.member_id = :s AND o.exchange_key = e.exchange_key)"""),
               {"s": survivor_id, "m": merged_id})
    return int(moved)


def erase_member(tx: Tx, member_id: str) -> int:
    """Unused coupons are void (nobody may use them any more); every coupon and exchange loses its
    member link; counts and redemptions stay for the books."""
    erased = tx.execute(sa.text("""UPDATE coupons SET member_id = NULL,
                                   state = CASE WHEN state = 'issued' THEN 'void' ELSE state END
                                   WHERE member_id = :m"""), {"m": member_id}).rowcount
    tx.execute(sa.text("UPDATE catalog_exchanges SET member_id = NULL WHERE member_id = :m"), {"m": member_id})
    return int(erased)
