"""RPC payloads: what each service method takes and returns (as JSON over Nameko RPC).

Requests are validated by the service (a bad field raises ``InvalidInput`` naming it);
responses are what the service returns and the gateway relays.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events import Channel, LifecycleClass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def to_utc(value: datetime | None) -> datetime | None:
    """Times travel in UTC (an offset like -20:32 is valid ISO-8601 but not for PostgreSQL);
    a time without a zone is taken as UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        raise ValueError("time out of range") from None


class Pong(_Model):
    """members.ping / points.ping / campaigns.ping / notify.ping"""

    service: str
    ok: bool


Gender = Literal["female", "male", "other", "undisclosed"]
ConsentChannel = Literal["sms", "email", "push", "marketing"]
Preferences = dict[str, str | int | float | bool | None]


class RegisterMember(_Model):
    """members.register(**RegisterMember)"""

    name: str = Field(min_length=1, max_length=100)
    phone: str = Field(min_length=1, max_length=32)
    registration_store: str | None = Field(default=None, max_length=64)
    channel: Channel = "staff"
    gender: Gender | None = None
    birthday: date | None = None
    email: str | None = Field(default=None, max_length=254)
    id_number: str | None = Field(default=None, max_length=32)
    tags: list[str] = Field(default_factory=list, max_length=50)
    preferences: Preferences = Field(default_factory=dict)
    device: str | None = Field(default=None, min_length=1, max_length=64,
                               description="The member's own device (an app install id); tills leave it out")


class Member(_Model):
    """members.get(member_id) and members.register return this (contact data in clear: the
    gateway masks it for callers who may not see it)."""

    member_id: str
    member_number: str
    name: str
    phone: str = Field(description="E.164")
    email: str | None = None
    id_number: str | None = None
    gender: Gender | None = None
    birthday: date | None = None
    registration_store: str | None
    channel: Channel
    tags: list[str] = Field(default_factory=list)
    preferences: Preferences = Field(default_factory=dict)
    status: str
    version: int = Field(description="Increases with every change; send it back to update (optimistic concurrency)")
    created_at: datetime
    updated_at: datetime | None = None
    unreadable: list[str] = Field(default_factory=list,
                                  description="Contact fields stored for this member that do not decrypt (shown empty)")
    lifecycle: LifecycleClass = Field(default="new", description="Lifecycle class (docs/lifecycle.md)")
    last_purchase_at: datetime | None = Field(default=None, description="Latest purchase points reported")
    purchase_count: int = Field(default=0, description="Purchases points reported (refunds do not uncount)")


class RegisterMemberResult(_Model):
    member: Member
    created: bool = Field(description="False when the phone was already registered")


class UpdateMember(_Model):
    """members.update(member_id, expected_version, **UpdateMember): only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, min_length=1, max_length=32)
    email: str | None = Field(default=None, max_length=254, description="Empty string removes it")
    id_number: str | None = Field(default=None, max_length=32, description="Empty string removes it")
    gender: Gender | None = None
    birthday: date | None = None
    tags: list[str] | None = Field(default=None, max_length=50)
    preferences: Preferences | None = None
    status: Literal["active", "frozen"] | None = None


class MemberChange(_Model):
    """members.history(member_id): who changed what, when (sensitive values are not repeated)."""

    version: int
    changed_at: datetime
    actor_kind: str
    actor_id: str | None
    fields: dict[str, object]


class BulkTags(_Model):
    """members.bulk_tags(**BulkTags): add and remove tags on every member a filter selects."""

    filter: "SearchMembers"
    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)


class SearchMembers(_Model):
    """members.search(**SearchMembers): every filter is optional; results by registration time."""

    phone: str | None = Field(default=None, max_length=32)
    member_number: str | None = Field(default=None, max_length=20)
    name_prefix: str | None = Field(default=None, min_length=1, max_length=100)
    tag: str | None = Field(default=None, max_length=32)
    store: str | None = Field(default=None, max_length=64)
    stores: list[str] | None = Field(default=None, description="Restrict to these stores (store-bound callers)")
    status: Literal["active", "frozen", "merged", "erased"] | None = None
    birthday_month: int | None = Field(default=None, ge=1, le=12)
    lifecycle: LifecycleClass | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    limit: int = Field(default=50, ge=1, le=200)
    after: str | None = Field(default=None, max_length=200, description="Position from the previous page")

    @field_validator("registered_from", "registered_to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return to_utc(value)


class MemberPage(_Model):
    items: list[Member]
    next: str | None


class SetConsent(_Model):
    """members.set_consent(member_id, **SetConsent)"""

    channel: ConsentChannel
    granted: bool
    source: str = Field(min_length=1, max_length=64, description="Where it was given: pos, app, web, paper, import")
    text_version: str = Field(min_length=1, max_length=32, description="Version of the consent text agreed to")


class Consent(_Model):
    channel: ConsentChannel
    granted: bool
    changed_at: datetime
    source: str
    text_version: str


class ImportRow(_Model):
    """One row of an import file as the gateway read it: its line number and raw fields."""

    line: int = Field(ge=1)
    fields: dict[str, str | list[str] | None]


class ImportBatch(_Model):
    """members.import_batch(job_id, **ImportBatch)"""

    batch_no: int = Field(ge=0, description="Batches are processed once each, however often they are sent")
    rows: list[ImportRow] = Field(max_length=2000)


class ImportJob(_Model):
    """members.start_import / import_status"""

    job_id: str
    source: str
    format: str
    encoding: str
    status: Literal["running", "done", "failed"]
    rows_total: int
    rows_created: int
    rows_existing: int = Field(description="Already known (by phone or external id): re-running creates nothing")
    rows_failed: int
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


class ImportError_(_Model):
    line: int
    field: str | None
    message: str


class MemberQr(_Model):
    """members.member_qr(member_id): a short-lived signed code naming the member, for a till to scan."""

    code: str = Field(description="Print as a QR code (alphanumeric mode); a till sends it to identify")
    expires_at: datetime
    ttl_seconds: int


class IdentifyByCode(_Model):
    """members.identify_code(**IdentifyByCode): the member a scanned code names."""

    code: str = Field(min_length=1, max_length=200, description="The scanned member code")


class LifecycleSettings(_Model):
    """members.lifecycle_settings() / set_lifecycle_settings(**LifecycleSettings): when a member
    is at risk, dormant or lost (days since the last purchase, or since registration without
    one), and how many purchases make a recent buyer active rather than new."""

    at_risk_days: int = Field(default=60, ge=1, le=3660, description="At risk from this many days")
    dormant_days: int = Field(default=180, ge=1, le=3660, description="Dormant from this many days")
    lost_days: int = Field(default=365, ge=1, le=3660, description="Lost from this many days")
    active_min_purchases: int = Field(default=2, ge=1, le=1000,
                                      description="Purchases a recent buyer needs to be active, not new")


class LifecycleSettingsOut(LifecycleSettings):
    version: int = Field(description="Increases with every change")
    updated_at: datetime | None = None
    updated_by: str | None = None


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
    for cls in (Pong, RegisterMember, Member, RegisterMemberResult, UpdateMember, MemberChange, SearchMembers,
                MemberPage, BulkTags, SetConsent, Consent, ImportRow, ImportBatch, ImportJob, ImportError_,
                PointsAccount, RemoteError, LifecycleSettings, LifecycleSettingsOut, MemberQr,
                IdentifyByCode)
}

BulkTags.model_rebuild()
