"""RPC payloads: what each service method takes and returns (as JSON over Nameko RPC).

Requests are validated by the service (a bad field raises ``InvalidInput`` naming it);
responses are what the service returns and the gateway relays.
"""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from contracts.events import Channel


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Pong(_Model):
    """members.ping / points.ping / campaigns.ping / notify.ping"""

    service: str
    ok: bool


class RegisterMember(_Model):
    """members.register(**RegisterMember)"""

    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=32)
    registration_store: str | None = Field(default=None, max_length=64)
    channel: Channel = "staff"


class Member(_Model):
    """members.get(member_id) and members.register return this."""

    member_id: str
    member_number: str
    name: str
    phone: str = Field(description="E.164")
    registration_store: str | None
    channel: Channel
    status: str
    created_at: datetime


class RegisterMemberResult(_Model):
    member: Member
    created: bool = Field(description="False when the phone was already registered")


class PointsAccount(_Model):
    """points.get_account(member_id)"""

    member_id: str
    balance: int = Field(description="Points, an exact integer")
    tier: str
    opened_at: datetime


class RemoteError(_Model):
    """The `error` member of a Nameko RPC reply."""

    exc_type: str
    exc_path: str | None = None
    exc_args: list[object] = Field(default_factory=list)
    value: str | None = None


RPC_MODELS: dict[str, type[BaseModel]] = {
    cls.__name__: cls
    for cls in (Pong, RegisterMember, Member, RegisterMemberResult, PointsAccount, RemoteError)
}
