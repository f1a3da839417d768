"""ERP sync (the catalog service's adapters): connections an operator declares, runs, cursors and the
status the operators' routes answer (``/v1/sync/...``). A connection names the setting that holds its
secret (``ERP_SECRET_<NAME>``), never the secret itself."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.catalog import Currency, TimeZone
from contracts.envelope import EventPayload

SECRET_PREFIX = "ERP_SECRET_"
ConnectionKind = Literal["odoo_json2", "odoo_xmlrpc", "erpnext", "kingdee"]
SyncKind = Literal["category", "store", "product", "customer", "sale"]
ConnectionName = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_\-]*$",
                       description="Also the `source` of every record it writes", examples=["odoo-main"])


class ConnectionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    time_zone: TimeZone = Field(default="UTC", description="A new store's zone; ERPNext's site zone")
    currency: Currency = Field(default="CNY", description="A new store's currency when the ERP does not say")
    store_model: Literal["pos.config", "stock.warehouse"] = Field(default="pos.config", description="Odoo")
    store_doctype: Literal["POS Profile", "Warehouse"] = Field(default="POS Profile", description="ERPNext")
    store_form: Literal["ORG_Organizations", "BD_STOCK"] = Field(
        default="ORG_Organizations", description="Kingdee: stores are organisations or warehouses")
    price_list: str | None = Field(default=None, max_length=64, description=(
        "Kingdee: the sales price list (BD_SAL_PriceList number) products take their price from"))
    login: Literal["app_secret", "password"] = Field(default="app_secret", description=(
        "Kingdee: LoginByAppSecret (the secret holds `<app id>,<app secret>`) or ValidateUser (a password)"))
    lcid: int = Field(default=2052, description="Kingdee: the language of its messages (2052 Chinese, 1033 English)")
    outbound: list[Literal["customer", "journal"]] = Field(default_factory=list, description=(
        "Writes into the ERP after each run: `customer` (members registered here, from the feed) and "
        "`journal` (each day's change in points liability: Odoo, ERPNext, and a Kingdee voucher)"))
    customers_after: str | None = Field(default=None, max_length=64, description=(
        "For `customer`: the feed cursor to start from (none: the oldest change the feed keeps)"))
    liability_accounts: dict[Literal["expense", "liability"], str] = Field(default_factory=dict, description=(
        "For `journal`: the accounts (Odoo account ids, ERPNext account names, Kingdee account numbers) debited and "
        "credited"))
    journal: str | None = Field(default=None, max_length=140, description=(
        "For `journal`: Odoo's journal id; ERPNext's company; Kingdee's account book number"))
    voucher_group: str = Field(default="PRE001", min_length=1, max_length=40, description=(
        "Kingdee `journal`: the voucher word (FVOUCHERGROUPID number; PRE001 is 记 in a standard install)"))
    voucher_currency: str = Field(default="PRE001", min_length=1, max_length=40, description=(
        "Kingdee `journal`: the currency's number (PRE001 is CNY in a standard install)"))
    kinds: list[SyncKind] | None = Field(default=None, description="What to sync (none: everything)")
    customer_domain: list[Any] = Field(default_factory=list, description='Odoo, e.g. [["customer_rank", ">", 0]]')
    lookback_seconds: int = Field(default=60, ge=0, le=86400, description=(
        "Each run re-reads this much before its cursor: an ERP stamps a write with its transaction's start, so "
        "a record committed late can carry an earlier stamp. Re-read records change nothing (versions)"))
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_base_wait: float = Field(default=0.5, ge=0, le=60, description="Seconds, doubled each try")
    retry_max_wait: float = Field(default=30.0, ge=0, le=600, description="Also caps a server's Retry-After")
    timeout: float = Field(default=30.0, gt=0, le=600, description="Seconds per request")


class ConnectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ConnectionKind
    base_url: str = Field(min_length=8, max_length=400, pattern=r"^https?://\S+$", examples=["https://erp.example.com"])
    database: str | None = Field(default=None, max_length=100, description="Odoo's database; Kingdee's data centre id")
    username: str | None = Field(default=None, max_length=200, description="Odoo XML-RPC and Kingdee login")
    credentials_ref: str = Field(pattern=rf"^{SECRET_PREFIX}[A-Z0-9_]{{1,60}}$", examples=["ERP_SECRET_ODOO_MAIN"],
                                 description="The setting holding the API key (ERPNext: `key:secret`)")
    interval_seconds: int = Field(default=900, ge=10, le=7 * 86400, description="Between scheduled runs")
    page_size: int = Field(default=200, ge=1, le=500)
    enabled: bool = Field(default=True, description="Runs on its schedule (a disabled one runs only on demand)")
    options: ConnectionOptions = Field(default_factory=ConnectionOptions)


class RunError(BaseModel):
    kind: str
    external_id: str | None = None
    field: str | None = None
    message: str | None = None


class RunOut(BaseModel):
    id: int
    trigger: str
    status: Literal["running", "succeeded", "failed"]
    started_at: datetime
    finished_at: datetime | None = None
    rows_in: int
    rows_out: int
    error_count: int
    errors: list[RunError] = Field(description="The first errors of the run (all are counted)")
    failure: str | None = Field(default=None, description="Why the run stopped")
    failure_kind: Literal["auth", "unavailable", "source", "internal"] | None = Field(
        default=None, description="auth: the ERP refused the credentials; fix the secret the connection names")


class CursorOut(BaseModel):
    kind: str
    stamp: str | None = Field(description="The source's modification time of the last record taken")
    key: str | None
    updated_at: datetime


class ConnectionStatus(BaseModel):
    name: str
    kind: ConnectionKind
    base_url: str
    database: str | None
    username: str | None
    credentials_ref: str
    enabled: bool
    interval_seconds: int
    page_size: int
    options: dict[str, Any]
    running: bool
    next_run_at: datetime = Field(description="The next scheduled run (an enabled connection)")
    run_requested_at: datetime | None = Field(default=None, description="A run asked for, not started yet")
    last_run: RunOut | None
    last_success_at: datetime | None
    lag_seconds: float | None = Field(description="Since the last good run ended (None: never)")
    cursors: list[CursorOut]


class ReconciledSale(BaseModel):
    transaction_id: str
    erp_amount: str | None = Field(description="The ERP's amount (decimal string); none: not in the ERP")
    ledger_amount: str | None = Field(description="What the points ledger accrued on; none: no accrual")
    points: int | None = None
    member_ref: str | None = Field(default=None, description="The ERP's customer (none: maybe not a member sale)")


class ReconciliationOut(BaseModel):
    """One store's day: the ERP's sales against the sales the points ledger accrued."""

    store: str
    day: date
    erp_count: int
    erp_amount: str
    ledger_count: int
    ledger_amount: str
    ledger_points: int
    matched: int
    missing: list[ReconciledSale] = Field(description="In the ERP, not accrued (a non-member sale shows here too)")
    extra: list[ReconciledSale] = Field(description="Accrued, not in the ERP")
    mismatched: list[ReconciledSale] = Field(description="In both, with different amounts")


class ErpSaleRecorded(EventPayload):
    """A sale the ERP reported (members' and everyone else's) was stored or changed by the sync: what
    analytics counts as "all sales". A newer version of the same sale replaces the older one."""

    TYPE = "erp.sale_recorded"
    VERSION = 1
    PRODUCER = "catalog"

    connection: str
    transaction_id: str
    version: int
    store: str
    occurred_at: datetime
    amount_cents: int = Field(description="The sale's amount in cents, as the ERP reported it")


ERP_EVENTS: tuple[type[EventPayload], ...] = (ErpSaleRecorded,)
