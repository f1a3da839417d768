"""Points RPC payloads: sales, refunds, holds, adjustments, activities, the program and reports,
kept in the points_* modules and importable from here as one namespace.

Money is ``Decimal`` (JSON strings such as "128.50"), points are integers. Times travel in UTC.
"""
from __future__ import annotations

from pydantic import BaseModel

from contracts.points_accounts import (
    Account,
    Activity,
    ActivityKind,
    ActivityResult,
    Adjust,
    Adjustment,
    AdjustResult,
    Hold,
    HoldRequest,
    LedgerEntry,
    LedgerPage,
    Lot,
    LotPage,
    TierProgress,
)
from contracts.points_base import (
    EARLIEST,
    Code,
    Rounding,
    Text,
    TierName,
    _MemberRef,
    luhn_digit,
)
from contracts.points_program import (
    ActivityPoints,
    BonusRule,
    BonusRuleOut,
    ExpiryRule,
    Program,
    ProgramVersion,
    SetProgram,
    TierRule,
)
from contracts.points_reports import (
    DailyPoints,
    DailyReport,
    DailySales,
    JobResult,
    LiabilityRow,
    SettlementRow,
)
from contracts.points_sales import (
    BatchItemResult,
    BatchResult,
    Expiring,
    ItemError,
    Refund,
    RefundItem,
    RefundResult,
    RuleLine,
    Sale,
    SaleBatch,
    SaleDiscount,
    SaleItem,
    SaleLine,
    SaleResult,
)

__all__ = [
    "Account", "Activity", "ActivityKind", "ActivityPoints", "ActivityResult", "Adjust", "Adjustment", "AdjustResult",
    "BatchItemResult", "BatchResult", "BonusRule", "BonusRuleOut", "Code", "DailyPoints", "DailyReport", "DailySales",
    "EARLIEST", "Expiring", "ExpiryRule", "Hold", "HoldRequest", "ItemError", "JobResult", "LedgerEntry",
    "LedgerPage", "LiabilityRow", "Lot", "LotPage", "luhn_digit", "_MemberRef", "POINTS_MODELS", "Program",
    "ProgramVersion", "Refund", "RefundItem", "RefundResult", "Rounding", "RuleLine", "Sale", "SaleBatch",
    "SaleDiscount", "SaleItem", "SaleLine",
    "SaleResult", "SetProgram", "SettlementRow", "Text", "TierName", "TierProgress", "TierRule",
]

POINTS_MODELS: dict[str, type[BaseModel]] = {
    cls.__name__: cls
    for cls in (SaleLine, SaleDiscount, Sale, RuleLine, Expiring, SaleResult, Refund, RefundResult, SaleBatch,
                ItemError, BatchItemResult, BatchResult, HoldRequest, Hold, Adjustment, Adjust, Activity,
                ActivityResult, LedgerEntry, AdjustResult, LedgerPage, Lot, LotPage, TierProgress, Account, TierRule,
                ExpiryRule, ActivityPoints, Program, SetProgram, ProgramVersion, BonusRule, BonusRuleOut, LiabilityRow,
                DailySales, DailyPoints, DailyReport, SettlementRow, JobResult)
}
