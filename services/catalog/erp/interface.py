"""The one interface every inbound adapter (Odoo, ERPNext, files...) offers the sync runner, and the
record shapes it hands over. The runner owns cursors, runs and writes; an adapter only reads its
source a page at a time and maps each record to our shapes (or rejects it, naming the field)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Kind = Literal["category", "store", "product", "customer", "sale"]
# the order a run pulls them in: a product's category and a sale's store exist before it arrives
KINDS: tuple[Kind, ...] = ("category", "store", "product", "customer", "sale")


@dataclass(frozen=True)
class Cursor:
    """Where one kind of one connection stands: the source's modification stamp (Odoo ``write_date``,
    ERPNext ``modified``, in the source's own text form) and id of the last record taken. The next
    page asks for records after (stamp, key) in that order, so ties on one stamp are never lost."""

    stamp: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Record:
    """One source record mapped to our shape. ``data`` by kind:

    - category: {code, name, parent}                            (contracts.catalog.CategoryIn)
    - store:    {code, name, region, brand, address, time_zone, currency, status, opened_on}  (StoreIn)
    - product:  {sku, name, category, brand, unit_price (decimal string), excluded_from_earning,
                 coupon_eligible}                               (ProductIn)
      A field the source does not hold is left out (an ERP rarely knows a store's time zone or a
      product's loyalty flags): the runner keeps the record's current value, or the connection's
      default for a new record (``options.time_zone``, ``options.currency``).
    - customer: the members import row: {external_id (the source's own id; members keeps it as
                <connection>:<id>), name, phone, email, birthday, ...}
                (contracts.imports.IMPORT_COLUMNS)
    - sale:     {store, day (YYYY-MM-DD, the store's local day; None: the runner takes it from occurred_at
                 in the store's time zone), transaction_id, occurred_at (ISO, with its offset),
                 amount_cents (int), member_ref (or None), lines: [{sku, quantity (decimal string),
                 amount_cents (int)}]}
    ``version`` is the source's version of the record as a positive int (its stamp in microseconds
    since the epoch): an upsert of a version already taken changes nothing."""

    kind: Kind
    external_id: str
    version: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Rejected:
    """A source record that could not be mapped: reported in the run's errors, the rest go on."""

    kind: Kind
    external_id: str | None
    field: str | None
    message: str


@dataclass(frozen=True)
class Page:
    """One page: the mapped records, the rejected ones, and the cursor after all of them."""

    records: list[Record]
    rejected: list[Rejected] = field(default_factory=list)
    next: Cursor = Cursor()
    more: bool = False  # the source has more after ``next``


class AdapterError(Exception):
    """The source could not be read (after the adapter's retries); the run stops at its cursor."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthFailed(AdapterError):
    """The source refused the connection's credentials: an operator must fix them; no retry helps."""


class SourceUnavailable(AdapterError):
    """The source did not answer, dropped the connection or kept rate-limiting past our retries."""


class Adapter(Protocol):
    """An inbound source. ``name`` is the connection's name: the ``source`` of what it writes."""

    name: str

    def kinds(self) -> tuple[Kind, ...]:
        """The kinds this source offers (a file drop may only have some)."""
        ...

    def check(self) -> None:
        """Log in / ask who we are; raises AuthFailed or SourceUnavailable."""
        ...

    def pull(self, kind: Kind, after: Cursor, limit: int) -> Page:
        """Up to ``limit`` records of ``kind`` modified after ``after``, oldest first."""
        ...
