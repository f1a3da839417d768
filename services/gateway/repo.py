"""The only code that touches the gateway's tables (except the audit log: audit.py)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from contracts.access import now
from services.gateway.tables import (
    api_keys,
    dev_code_deliveries,
    idempotency_keys,
    member_codes,
    refresh_tokens,
    staff,
)


# -- staff ---------------------------------------------------------------------------
def staff_by_username(engine: sa.Engine, username: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(staff).where(sa.func.lower(staff.c.username) == username.lower())).first()


def staff_by_id(engine: sa.Engine, staff_id: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(staff).where(staff.c.id == staff_id)).first()


def create_staff(engine: sa.Engine, username: str, password_hash: str, roles: list[str],
                 stores: list[str] | None) -> Any | None:
    """The new row, or None if the username is taken."""
    with engine.begin() as conn:
        return conn.execute(
            pg_insert(staff).values(username=username, password_hash=password_hash, roles=roles, stores=stores)
            .on_conflict_do_nothing().returning(*staff.c)
        ).first()


def update_staff(engine: sa.Engine, staff_id: str, changes: dict[str, Any]) -> Any | None:
    with engine.begin() as conn:
        return conn.execute(
            staff.update().where(staff.c.id == staff_id).values(**changes, updated_at=sa.func.now())
            .returning(*staff.c)
        ).first()


def list_staff(engine: sa.Engine, after: str | None, limit: int) -> list[Any]:
    query = sa.select(staff).order_by(staff.c.username, staff.c.id).limit(limit)
    if after:
        query = query.where(staff.c.username > after)
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def admin_exists(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.literal(1)).where(staff.c.roles.any("admin")).limit(1)).first() is not None


def record_login_failure(engine: sa.Engine, staff_id: str, max_failures: int, lock_seconds: int) -> Any:
    """Count a failed login; lock the account when the count reaches max_failures."""
    with engine.begin() as conn:
        row = conn.execute(
            staff.update().where(staff.c.id == staff_id)
            .values(failed_logins=staff.c.failed_logins + 1)
            .returning(staff.c.failed_logins)
        ).one()
        if row.failed_logins >= max_failures:
            return conn.execute(
                staff.update().where(staff.c.id == staff_id)
                .values(locked_until=now() + timedelta(seconds=lock_seconds), failed_logins=0)
                .returning(staff.c.locked_until, staff.c.failed_logins)
            ).one()
        return row


def record_login_success(engine: sa.Engine, staff_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(staff.update().where(staff.c.id == staff_id)
                     .values(failed_logins=0, locked_until=None, last_login_at=sa.func.now()))


# -- refresh tokens -------------------------------------------------------------------
def store_refresh_token(engine: sa.Engine, token_hash: str, kind: str, subject_id: str, days: int) -> None:
    with engine.begin() as conn:
        conn.execute(refresh_tokens.insert().values(token_hash=token_hash, subject_kind=kind, subject_id=subject_id,
                                                    expires_at=now() + timedelta(days=days)))


def use_refresh_token(engine: sa.Engine, token_hash: str) -> Any | None:
    """Revoke a live refresh token and return it (rotation: each token works once)."""
    with engine.begin() as conn:
        return conn.execute(
            refresh_tokens.update()
            .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.revoked_at.is_(None),
                   refresh_tokens.c.expires_at > sa.func.now())
            .values(revoked_at=sa.func.now())
            .returning(*refresh_tokens.c)
        ).first()


def revoke_subject_tokens(engine: sa.Engine, kind: str, subject_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(refresh_tokens.update()
                     .where(refresh_tokens.c.subject_kind == kind, refresh_tokens.c.subject_id == subject_id,
                            refresh_tokens.c.revoked_at.is_(None))
                     .values(revoked_at=sa.func.now()))


# -- API keys -------------------------------------------------------------------------
def create_api_key(engine: sa.Engine, **values: Any) -> Any:
    with engine.begin() as conn:
        return conn.execute(api_keys.insert().values(**values).returning(*api_keys.c)).one()


def api_key_by_prefix(engine: sa.Engine, prefix: str) -> Any | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(api_keys).where(api_keys.c.prefix == prefix)).first()


def touch_api_key(engine: sa.Engine, key_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=sa.func.now()))


def revoke_api_key(engine: sa.Engine, key_id: str) -> Any | None:
    with engine.begin() as conn:
        return conn.execute(
            api_keys.update().where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=sa.func.now()).returning(*api_keys.c)
        ).first()


def list_api_keys(engine: sa.Engine, after: str | None, limit: int) -> list[Any]:
    query = sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id).limit(limit)
    if after:
        created, _, key_id = after.partition("|")
        query = query.where(sa.tuple_(api_keys.c.created_at, api_keys.c.id) > (datetime.fromisoformat(created), key_id))
    with engine.connect() as conn:
        return list(conn.execute(query).all())


# -- member one-time codes ---------------------------------------------------------------
def store_member_code(engine: sa.Engine, phone: str, member_id: str | None, code_hash: str, seconds: int,
                      dev_code: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(member_codes.insert().values(phone=phone, member_id=member_id, code_hash=code_hash,
                                                  expires_at=now() + timedelta(seconds=seconds)))
        if dev_code is not None:  # DEVELOPMENT DELIVERY CHANNEL (OTP_DELIVERY=dev)
            conn.execute(dev_code_deliveries.insert().values(phone=phone, code=dev_code))


def member_code_budget(engine: sa.Engine, phone: str) -> tuple[int, int]:
    """(codes sent, wrong guesses) for this phone in the last hour: limits brute force and SMS floods."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(member_codes.c.attempts), 0))
                           .where(member_codes.c.phone == phone,
                                  member_codes.c.created_at > now() - timedelta(hours=1))).one()
    return int(row[0]), int(row[1])


def purge_member_codes(engine: sa.Engine) -> None:
    """Codes (and the phones they were sent to) are kept one day, then removed."""
    with engine.begin() as conn:
        conn.execute(member_codes.delete().where(member_codes.c.created_at < now() - timedelta(days=1)))
        conn.execute(dev_code_deliveries.delete().where(dev_code_deliveries.c.created_at < now() - timedelta(days=1)))


def forget_member_codes(engine: sa.Engine, member_id: str, phone: str | None) -> None:
    """An erased member's codes and the phone they went to (sent to log in, or to register)."""
    with engine.begin() as conn:
        conn.execute(member_codes.delete().where(sa.or_(member_codes.c.member_id == member_id,
                                                        member_codes.c.phone == phone)))
        conn.execute(dev_code_deliveries.delete().where(dev_code_deliveries.c.phone == phone))


def consume_member_code(engine: sa.Engine, phone: str, code_hash: str, max_attempts: int = 5) -> bool:
    """Whether the newest live code for this phone matches (it is used up); counts failed attempts."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(member_codes).where(member_codes.c.phone == phone, member_codes.c.used_at.is_(None),
                                          member_codes.c.expires_at > sa.func.now())
            .order_by(member_codes.c.created_at.desc()).limit(1).with_for_update()
        ).first()
        if row is None or row.attempts >= max_attempts:
            return False
        if row.code_hash != code_hash:
            conn.execute(member_codes.update().where(member_codes.c.id == row.id)
                         .values(attempts=member_codes.c.attempts + 1))
            return False
        conn.execute(member_codes.update().where(member_codes.c.id == row.id).values(used_at=sa.func.now()))
        return True


# -- idempotency ----------------------------------------------------------------------------
def claim_idempotency_key(engine: sa.Engine, scope: str, key: str, request_hash: str,
                          stale_after_seconds: float) -> Any | None:
    """None if this call claimed the key; else the existing record (in progress or complete).
    A claim left in progress longer than stale_after_seconds (its gateway died) is taken over."""
    with engine.begin() as conn:
        for _ in range(3):
            claimed = conn.execute(
                pg_insert(idempotency_keys).values(scope=scope, key=key, request_hash=request_hash)
                .on_conflict_do_nothing().returning(idempotency_keys.c.key)
            ).first()
            if claimed is not None:
                return None
            existing = conn.execute(sa.select(idempotency_keys).where(
                idempotency_keys.c.scope == scope, idempotency_keys.c.key == key).with_for_update()).first()
            if existing is None:
                continue  # released between our insert and our read: try again
            if existing.status_code is None and existing.request_hash == request_hash \
                    and existing.created_at < now() - timedelta(seconds=stale_after_seconds):
                conn.execute(idempotency_keys.update().where(idempotency_keys.c.scope == scope,
                                                             idempotency_keys.c.key == key)
                             .values(created_at=sa.func.now()))
                return None
            return existing
        return None


def complete_idempotency_key(engine: sa.Engine, scope: str, key: str, status: int, body: bytes,
                             headers: dict[str, str]) -> None:
    with engine.begin() as conn:
        conn.execute(idempotency_keys.update()
                     .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
                     .values(status_code=status, response_body=body, response_headers=headers))


def release_idempotency_key(engine: sa.Engine, scope: str, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(idempotency_keys.delete().where(idempotency_keys.c.scope == scope,
                                                     idempotency_keys.c.key == key))


def expire_idempotency_keys(engine: sa.Engine, hours: int) -> int:
    with engine.begin() as conn:
        return conn.execute(idempotency_keys.delete().where(
            idempotency_keys.c.created_at < now() - timedelta(hours=hours))).rowcount
