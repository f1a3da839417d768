"""Who may do what: the one access kernel of the gateway and every service (pure, no I/O).

A caller is staff (roles from STAFF_ROLES), an API key (its kind, pos or erp, is its role), a
member (about themselves only) or a service (another service of the platform, or the gateway
on an anonymous route). Services pass every role check: a service only acts on its own rules
or on behalf of a caller the gateway has already checked. The caller travels signed
(contracts/caller_seal.py; docs/decisions/0017-access-kernel.md).
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from contracts.errors import Forbidden, InvalidInput

Kind = Literal["staff", "key", "member", "service"]
KINDS: Final = ("staff", "key", "member", "service")

STAFF_ROLES: Final = ("clerk", "manager", "marketer", "admin", "auditor")
KEY_KINDS: Final = ("pos", "erp")  # an API key's kind, which services see as its role
MEMBER: Final = "member"  # in a role set: the member themselves (``require(..., member=id)``)

# the role sets every check names (staff roles and key kinds)
ADMIN: Final = frozenset({"admin"})
MARKETING: Final = frozenset({"admin", "marketer"})  # programs, bonus rules, coupons, segments, campaigns, templates
MARKETING_READERS: Final = MARKETING | {"auditor"}  # segments and campaigns
CHAIN_READERS: Final = MARKETING_READERS | {"manager"}  # coupons, the delivery log, campaign results
AT_THE_TILL: Final = frozenset({"clerk", "manager", "admin"})  # staff serving at a counter
STORE_MANAGEMENT: Final = frozenset({"manager", "admin"})  # adjustments, member merges and erasure
MEMBER_WRITERS: Final = AT_THE_TILL | set(KEY_KINDS)  # registrations and consents: counters, POS and ERP
MEMBER_READERS: Final = MEMBER_WRITERS | {"marketer"}
BULK_TAGGERS: Final = STORE_MANAGEMENT | {"marketer"}
SELLERS: Final = AT_THE_TILL | set(KEY_KINDS)  # sales, refunds and point holds: tills, POS and ERP
IMPORTERS: Final = frozenset({"admin", "erp"})  # bulk member imports
EXPORTERS: Final = STORE_MANAGEMENT | {MEMBER}  # privacy exports: managers, admins, the member themselves
MASTER_DATA: Final = frozenset({"admin", "erp"})  # stores, categories, products
STAFF_OR_KEYS: Final = frozenset(STAFF_ROLES) | set(KEY_KINDS)  # any staff or key, not members
INTEGRATORS: Final = frozenset({"admin", "erp"})  # the change feed and webhook subscriptions
RECONCILERS: Final = frozenset({"admin", "auditor", "manager", "erp"})  # ERP reconciliation per store and day

GATEWAY: Final = "gateway"  # the gateway's own identity, for routes open to anonymous callers


@dataclass(frozen=True)
class Caller:
    """Who called, as the gateway authenticated them (or the service that called)."""

    kind: Kind
    id: str | None = None
    roles: tuple[str, ...] = ()
    stores: tuple[str, ...] | None = None  # None: the whole chain
    member_id: str | None = None
    on_behalf_of: str | None = None  # a service acting for a person or an adapter (the files' uploader)

    def __post_init__(self) -> None:
        if self.on_behalf_of is not None and self.kind != "service":
            raise ValueError("only a service acts on behalf of someone")

    @property
    def actor(self) -> str:
        """Who is recorded as having done it: the person a service acts for, else the caller."""
        return self.on_behalf_of or self.id or self.kind

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"kind": self.kind, "id": self.id, "roles": sorted(self.roles),
                                  "stores": None if self.stores is None else sorted(self.stores),
                                  "member_id": self.member_id}
        if self.on_behalf_of is not None:  # absent otherwise: a caller's JSON stays as it was
            fields["on_behalf_of"] = self.on_behalf_of
        return fields

    def to_json(self) -> str:
        return json.dumps(self.fields(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_fields(cls, data: Any) -> Caller:
        """From its JSON fields; ValueError when they are not a caller."""
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ValueError("not a caller")
        roles, stores = data.get("roles") or [], data.get("stores")
        if not isinstance(roles, list) or not (stores is None or isinstance(stores, list)):
            raise ValueError("roles and stores are lists")
        return cls(kind=data["kind"], id=_text(data.get("id")), roles=tuple(str(r) for r in roles),
                   stores=None if stores is None else tuple(str(s) for s in stores),
                   member_id=_text(data.get("member_id")), on_behalf_of=_text(data.get("on_behalf_of")))

    @classmethod
    def from_json(cls, raw: str) -> Caller:
        return cls.from_fields(json.loads(raw))

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    def covers_store(self, store: str | None) -> bool:
        """May act on data of this store (chain-wide callers cover every store)."""
        return self.stores is None or (store is not None and store in self.stores)


def service(name: str, on_behalf_of: str | None = None) -> Caller:
    """A service of the platform calling as itself (role ``service:<name>``), perhaps for someone."""
    return Caller(kind="service", id=name, roles=(f"service:{name}",), on_behalf_of=on_behalf_of)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


_ANY_STORE: Final = object()


def require(caller: Caller, roles: Collection[str], *, store: object = _ANY_STORE, member: str | None = None,
            field: str | None = None) -> None:
    """Forbidden unless ``caller`` may act: a service always; staff and keys holding one of ``roles``;
    a member when ``roles`` holds MEMBER and ``member`` is their own id. With ``store`` given (None
    included), a store-bound caller must cover that store."""
    if caller.kind == "member":
        if MEMBER not in roles:
            raise Forbidden("not open to members", field)
        require_self(caller, member)
    elif caller.kind in ("staff", "key") and not set(roles) & set(caller.roles):
        wanted = sorted(set(roles) - {MEMBER})
        raise Forbidden(f"for {', '.join(wanted) or 'services'} only", field)
    if store is not _ANY_STORE:
        require_store(caller, store if isinstance(store, str) else None)


def require_store(caller: Caller, store: str | None, field: str = "store") -> None:
    if not caller.covers_store(store):
        raise Forbidden(f"not allowed for store {store!r}", field)


def require_self(caller: Caller, member: str | None, field: str = "member_id") -> None:
    """A member acts only on their own id, which they must name (other callers pass)."""
    if caller.kind == "member" and (member is None or caller.member_id != member):
        raise Forbidden("a member reaches only their own data", field)


def require_backend(caller: Caller) -> None:
    """Services only, not the gateway's anonymous routes: data no person may read through the API."""
    if caller.kind != "service" or caller.id == GATEWAY:
        raise Forbidden("for services only")


def parse_id(value: object, field: str, what: str = "an id") -> str:
    """A UUID in its canonical text form; InvalidInput naming ``field`` otherwise."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidInput(f"not {what}", field) from None


def id_or_none(value: str | None) -> str | None:
    """The canonical form of an id from another service's event, or None when it is not a UUID."""
    try:
        return None if value is None else str(uuid.UUID(value))
    except ValueError:
        return None


def now() -> datetime:
    return datetime.now(UTC)
