"""Rows shaped into the contract models the service answers with."""
from __future__ import annotations

from typing import Any

from contracts.notify import Message, MessageStep, TemplateOut
from services.notify import domain


def template(row: Any) -> TemplateOut:
    return TemplateOut(key=row.key, channel=row.channel, locale=row.locale, subject=row.subject, body=row.body,
                       version=row.version, variables=sorted(domain.KIND_VARIABLES[domain.kind_of(row.key)]),
                       updated_at=row.updated_at, updated_by=row.updated_by)


def message(row: Any, steps: list[Any] | None = None) -> Message:
    return Message(message_id=row.id, member_id=row.member_id, campaign_id=row.campaign_id, template=row.template,
                   channel=row.channel, marketing=row.marketing, status=row.status, reason=row.reason,
                   attempts=row.attempts, last_error=row.last_error, provider_message_id=row.provider_message_id,
                   not_before=row.not_before, created_at=row.created_at, sent_at=row.sent_at,
                   delivered_at=row.delivered_at, dead_at=row.dead_at, replayed_at=row.replayed_at,
                   steps=[MessageStep(status=s.status, detail=s.detail, at=s.at) for s in steps or []])
