"""The only code that touches notify's tables. Functions take an open transaction (``Tx``)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from services.notify import domain
from services.notify.tables import consents, message_log, messages, templates, wechat_followers, wechat_links

STUCK_SENDING = "5 minutes"  # a message claimed by a process that died is picked up again after this


# ---- templates ---------------------------------------------------------------------------------------------
def seed_templates(tx: Any) -> None:
    rows = [{"key": k, "channel": c, "locale": loc, "subject": s, "body": b, "updated_by": "seed"}
            for k, c, loc, s, b in domain.DEFAULT_TEMPLATES]
    tx.execute(pg_insert(templates).values(rows).on_conflict_do_nothing())


def save_template(tx: Any, key: str, channel: str, locale: str, subject: str | None, body: str,
                  actor: str | None) -> Any:
    stmt = pg_insert(templates).values(key=key, channel=channel, locale=locale, subject=subject, body=body,
                                       updated_by=actor)
    stmt = stmt.on_conflict_do_update(
        index_elements=[templates.c.key, templates.c.channel, templates.c.locale],
        set_={"subject": subject, "body": body, "updated_by": actor, "updated_at": sa.func.now(),
              "version": templates.c.version + 1},
    )
    tx.execute(stmt)
    return get_template(tx, key, channel, locale)


def get_template(tx: Any, key: str, channel: str, locale: str) -> Any:
    return tx.execute(sa.select(templates).where(templates.c.key == key, templates.c.channel == channel,
                                                 templates.c.locale == locale)).first()


def find_template(tx: Any, key: str, channel: str, locale: str) -> Any:
    """The template for the locale, else the same template in another locale (zh-CN first)."""
    rows = tx.execute(sa.select(templates).where(templates.c.key == key, templates.c.channel == channel)).all()
    by_locale = {r.locale: r for r in rows}
    for candidate in (locale, *domain.LOCALES):
        if candidate in by_locale:
            return by_locale[candidate]
    return None


def list_templates(tx: Any, key: str | None = None) -> list[Any]:
    query = sa.select(templates).order_by(templates.c.key, templates.c.channel, templates.c.locale)
    if key:
        query = query.where(templates.c.key == key)
    return list(tx.execute(query).all())


def delete_template(tx: Any, key: str, channel: str, locale: str) -> bool:
    return bool(tx.execute(templates.delete().where(templates.c.key == key, templates.c.channel == channel,
                                                    templates.c.locale == locale)).rowcount)


# ---- consent -----------------------------------------------------------------------------------------------
def set_consent(tx: Any, member_id: str, channel: str, granted: bool, changed_at: datetime) -> None:
    """Keep the newest change per channel (events may arrive out of order)."""
    stmt = pg_insert(consents).values(member_id=member_id, channel=channel, granted=granted, changed_at=changed_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[consents.c.member_id, consents.c.channel],
        set_={"granted": granted, "changed_at": changed_at},
        where=consents.c.changed_at <= changed_at,
    )
    tx.execute(stmt)


def consented(tx: Any, member_id: str, channel: str) -> bool:
    """Marketing needs both 'marketing' and the channel's own consent (webhook needs only 'marketing')."""
    needed = {"marketing"} | ({channel} if channel in ("sms", "email", "push") else set())
    rows = tx.execute(sa.select(consents.c.channel).where(consents.c.member_id == member_id,
                                                          consents.c.channel.in_(needed),
                                                          consents.c.granted.is_(True))).all()
    return {r.channel for r in rows} == needed


# ---- messages ---------------------------------------------------------------------------------------------
def enqueue(tx: Any, *, dedupe_key: str, template: str, channel: str, member_id: str | None,
            variables: dict[str, Any], campaign_id: str | None = None, store: str | None = None,
            status: str = "queued", recipient_hash: str | None = None) -> tuple[str, bool]:
    """(message id, created): one message per dedupe key however often it is asked for."""
    message_id = str(uuid.uuid4())
    stmt = pg_insert(messages).values(
        id=message_id, dedupe_key=dedupe_key, template=template, channel=channel, member_id=member_id,
        variables=variables, campaign_id=campaign_id, store=store, marketing=domain.is_marketing(template),
        status=status, recipient_hash=recipient_hash,
    ).on_conflict_do_nothing(index_elements=[messages.c.dedupe_key]).returning(messages.c.id)
    row = tx.execute(stmt).first()
    if row is None:
        existing = tx.execute(sa.select(messages.c.id).where(messages.c.dedupe_key == dedupe_key)).scalar_one()
        return str(existing), False
    log(tx, message_id, status)
    return message_id, True


def log(tx: Any, message_id: str, status: str, detail: str | None = None) -> None:
    tx.execute(message_log.insert().values(message_id=message_id, status=status, detail=detail))


def claim_due(tx: Any, channel: str, limit: int) -> list[Any]:
    """Due queued messages of a channel (and ones stuck in 'sending'), marked 'sending'; skip locked rows
    so several processes share the work."""
    due = (sa.select(messages.c.id).where(
        messages.c.channel == channel,
        sa.or_(sa.and_(messages.c.status == "queued", messages.c.not_before <= sa.func.now()),
               sa.and_(messages.c.status == "sending",
                       messages.c.updated_at < sa.func.now() - sa.text(f"interval '{STUCK_SENDING}'"))),
    ).order_by(messages.c.not_before).limit(limit).with_for_update(skip_locked=True))
    ids = [r.id for r in tx.execute(due).all()]
    if not ids:
        return []
    return list(tx.execute(messages.update().where(messages.c.id.in_(ids))
                           .values(status="sending", updated_at=sa.func.now()).returning(*messages.c)).all())


def take(tx: Any, message_id: str, claimed_at: datetime) -> bool:
    """Is this claimed message still ours? Another process may have picked it up again as stuck
    (it waited in our batch past STUCK_SENDING): then its claim time changed and we leave it.
    Renews our claim."""
    return bool(tx.execute(messages.update().where(
        messages.c.id == message_id, messages.c.status == "sending", messages.c.updated_at == claimed_at,
    ).values(updated_at=sa.func.clock_timestamp())).rowcount == 1)


def get(tx: Any, message_id: str, for_update: bool = False) -> Any:
    query = sa.select(messages).where(messages.c.id == message_id)
    if for_update:
        query = query.with_for_update()
    return tx.execute(query).first()


def update(tx: Any, message_id: str, **values: Any) -> None:
    tx.execute(messages.update().where(messages.c.id == message_id).values(updated_at=sa.func.now(), **values))


def lock_member(tx: Any, member_id: str) -> None:
    """Serialise cap checks of one member across channels and processes (until the transaction ends)."""
    tx.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:m, 7))"), {"m": member_id})


def marketing_sent_since(tx: Any, member_id: str, since: datetime, other_than: str) -> int:
    """Marketing messages sent to a member since a time, or past their cap check and being sent (their
    sent_at is set then), not counting one message."""
    return int(tx.execute(sa.select(sa.func.count()).select_from(messages).where(
        messages.c.member_id == member_id, messages.c.marketing.is_(True), messages.c.id != other_than,
        messages.c.status.in_(("sending", "sent", "delivered")), messages.c.sent_at >= since,
    )).scalar_one())


def codes_since(tx: Any, recipient_hash: str, since: datetime) -> int:
    return int(tx.execute(sa.select(sa.func.count()).select_from(messages).where(
        messages.c.recipient_hash == recipient_hash, messages.c.created_at >= since)).scalar_one())


def by_provider_id(tx: Any, provider_message_id: str) -> Any:
    return tx.execute(sa.select(messages).where(messages.c.provider_message_id == provider_message_id)
                      .with_for_update()).first()


def history(tx: Any, message_id: str) -> list[Any]:
    return list(tx.execute(sa.select(message_log).where(message_log.c.message_id == message_id)
                           .order_by(message_log.c.id)).all())


def search(tx: Any, *, member_id: str | None = None, campaign_id: str | None = None, status: str | None = None,
           dead: bool = False, before: datetime | None = None, limit: int = 50) -> list[Any]:
    query = sa.select(messages).order_by(messages.c.created_at.desc(), messages.c.id).limit(limit)
    if member_id:
        query = query.where(messages.c.member_id == member_id)
    if campaign_id:
        query = query.where(messages.c.campaign_id == campaign_id)
    if status:
        query = query.where(messages.c.status == status)
    if dead:
        query = query.where(messages.c.status == "failed", messages.c.dead_at.is_not(None))
    if before is not None:
        query = query.where(messages.c.created_at < before)
    return list(tx.execute(query).all())


def dlq_depth(tx: Any) -> int:
    return int(tx.execute(sa.select(sa.func.count()).select_from(messages).where(
        messages.c.status == "failed", messages.c.dead_at.is_not(None))).scalar_one())


def erase_member(tx: Any, member_id: str) -> list[Any]:
    """Forget what we keep about a member: consent, message variables; messages still waiting are
    suppressed (returned, for their outcome events)."""
    tx.execute(consents.delete().where(consents.c.member_id == member_id))
    forget_followers(tx, member_id)
    tx.execute(wechat_links.delete().where(wechat_links.c.member_id == member_id))
    waiting = list(tx.execute(messages.update().where(
        messages.c.member_id == member_id, messages.c.status.in_(("queued", "failed")))
        .values(status="suppressed", reason="member_erased", dead_at=None, updated_at=sa.func.now())
        .returning(messages.c.id, messages.c.channel, messages.c.campaign_id)).all())
    theirs = [r.id for r in tx.execute(messages.update().where(messages.c.member_id == member_id)
                                       .values(variables={}, recipient_hash=None, last_error=None)
                                       .returning(messages.c.id)).all()]
    if theirs:  # providers' error and receipt texts may have quoted them
        tx.execute(message_log.update().where(message_log.c.message_id.in_(theirs), message_log.c.detail.is_not(None))
                   .values(detail=None))
    return waiting


# ---- WeChat openids ------------------------------------------------------------------------------------
def wechat_member(tx: Any, app_id: str, openid: str) -> str | None:
    value = tx.execute(sa.select(wechat_links.c.member_id).where(wechat_links.c.app_id == app_id,
                                                                 wechat_links.c.openid == openid)).scalar()
    return None if value is None else str(value)


def link_wechat(tx: Any, app_id: str, openid: str, member_id: str, unionid: str | None, at: datetime,
                kind: str = "mini", consented_at: datetime | None = None) -> None:
    """The openid belongs to this member from now on (a WeChat user relinking moves it)."""
    values = {"member_id": member_id, "unionid": unionid, "consented_at": consented_at or at, "linked_at": at,
              "kind": kind}
    stmt = pg_insert(wechat_links).values(app_id=app_id, openid=openid, **values)
    tx.execute(stmt.on_conflict_do_update(index_elements=[wechat_links.c.app_id, wechat_links.c.openid], set_=values))


def wechat_address(tx: Any, member_id: str) -> str | None:
    """The member's openids as 'app=openid,...' (the WeChat channel picks its app's), None without any;
    an official account's openid only while the member follows it."""
    following = sa.exists().where(wechat_followers.c.app_id == wechat_links.c.app_id,
                                  wechat_followers.c.openid == wechat_links.c.openid)
    rows = tx.execute(sa.select(wechat_links.c.app_id, wechat_links.c.openid)
                      .where(wechat_links.c.member_id == member_id, sa.or_(wechat_links.c.kind == "mini", following))
                      .order_by(wechat_links.c.linked_at)).all()
    return ",".join(f"{r.app_id}={r.openid}" for r in rows) or None


def wechat_links_of(tx: Any, member_id: str) -> list[dict[str, Any]]:
    """The member's WeChat links as their data export shows them."""
    rows = tx.execute(sa.select(wechat_links.c.app_id, wechat_links.c.openid, wechat_links.c.kind,
                                wechat_links.c.unionid, wechat_links.c.consented_at, wechat_links.c.linked_at)
                      .where(wechat_links.c.member_id == member_id).order_by(wechat_links.c.linked_at)).all()
    return [{**r._asdict(), "consented_at": r.consented_at.isoformat(), "linked_at": r.linked_at.isoformat()}
            for r in rows]


def unlink_wechat(tx: Any, member_id: str) -> int:
    """The member withdrew their consent to link WeChat: every openid of theirs is forgotten."""
    return int(tx.execute(wechat_links.delete().where(wechat_links.c.member_id == member_id)).rowcount)


def follow(tx: Any, app_id: str, openid: str, unionid: str | None, at: datetime) -> None:
    """The user follows the official account (since the first push; a repeat keeps that time)."""
    stmt = pg_insert(wechat_followers).values(app_id=app_id, openid=openid, unionid=unionid, followed_at=at)
    tx.execute(stmt.on_conflict_do_update(
        index_elements=[wechat_followers.c.app_id, wechat_followers.c.openid],
        set_={"unionid": sa.func.coalesce(stmt.excluded.unionid, wechat_followers.c.unionid)}))


def unfollow(tx: Any, app_id: str, openid: str) -> None:
    tx.execute(wechat_followers.delete().where(wechat_followers.c.app_id == app_id,
                                               wechat_followers.c.openid == openid))


def lock_unionid(tx: Any, unionid: str) -> None:
    """Serialise a follow and a mini-program link of one WeChat user, or each could miss the other."""
    tx.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:u, 8))"), {"u": unionid})


def consented_link(tx: Any, unionid: str) -> Any:
    """The latest link carrying this unionid (member_id, consented_at), or None."""
    return tx.execute(sa.select(wechat_links.c.member_id, wechat_links.c.consented_at)
                      .where(wechat_links.c.unionid == unionid)
                      .order_by(wechat_links.c.linked_at.desc()).limit(1)).first()


def followers_of(tx: Any, unionid: str) -> list[Any]:
    """The official accounts' followers who are this WeChat user (app_id, openid)."""
    return list(tx.execute(sa.select(wechat_followers.c.app_id, wechat_followers.c.openid)
                           .where(wechat_followers.c.unionid == unionid)).all())


def join_followers(tx: Any, member_id: str, unionid: str | None, at: datetime) -> None:
    """A member just linked (with consent) a WeChat user who already follows an official account."""
    if unionid:
        lock_unionid(tx, unionid)
    for follower in followers_of(tx, unionid) if unionid else []:
        link_wechat(tx, follower.app_id, follower.openid, member_id, unionid, at, kind="official")


def forget_followers(tx: Any, member_id: str) -> None:
    """An erased member's follows: their openids and unionids go with them."""
    mine = sa.select(wechat_links.c.app_id, wechat_links.c.openid).where(wechat_links.c.member_id == member_id)
    unionids = sa.select(wechat_links.c.unionid).where(wechat_links.c.member_id == member_id,
                                                       wechat_links.c.unionid.is_not(None))
    tx.execute(wechat_followers.delete().where(sa.or_(
        sa.tuple_(wechat_followers.c.app_id, wechat_followers.c.openid).in_(mine),
        wechat_followers.c.unionid.in_(unionids))))
