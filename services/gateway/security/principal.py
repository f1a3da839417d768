"""The authenticated caller, as every route and every RPC sees it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from contracts.access import STAFF_ROLES as STAFF_ROLES  # the kernel's roles, the routes' vocabulary
from contracts.access import Caller

# What an API key may be allowed to do. A key holds a subset; routes name the one they need.
# points:upload is offline sales uploads only (the ERP's); points:write includes them (a POS's).
KEY_SCOPES = ("members:read", "members:write", "points:read", "points:write", "points:upload", "coupons:redeem",
              "import:write")
CHAIN_ONLY_SCOPES = frozenset({"import:write"})  # never on a store-bound POS key
DEFAULT_KEY_SCOPES = {
    "pos": ("members:read", "members:write", "points:read", "points:write", "coupons:redeem"),
    "erp": ("members:read", "members:write", "points:read", "points:upload", "import:write"),
}

Kind = Literal["staff", "key", "member"]


@dataclass(frozen=True)
class Principal:
    kind: Kind
    id: str
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)  # staff roles; {"pos"} or {"erp"} for keys
    stores: frozenset[str] | None = None  # None: the whole chain
    scopes: frozenset[str] = field(default_factory=frozenset)  # keys only
    member_id: str | None = None  # members only

    @property
    def is_admin(self) -> bool:
        return self.kind == "staff" and "admin" in self.roles

    def covers_store(self, store: str | None) -> bool:
        """May act on data of this store (chain-wide callers cover every store)."""
        return self.caller().covers_store(store)

    @property
    def home_store(self) -> str | None:
        """The one store a store-bound caller acts for, if it has exactly one."""
        if self.stores is not None and len(self.stores) == 1:
            return next(iter(self.stores))
        return None

    def caller(self) -> Caller:
        """This principal as services see it (a key's kind is its role)."""
        return Caller(kind=self.kind, id=self.id, roles=tuple(sorted(self.roles)),
                      stores=None if self.stores is None else tuple(sorted(self.stores)), member_id=self.member_id)

    def rpc_context(self) -> str:
        """The identity that travels with each RPC (``nameko.caller``; the RPC client signs it as it sends)."""
        return self.caller().to_json()
