"""The only code that touches the points tables (SQLAlchemy Core: this is the hot path).

Callers use it as one namespace (``repo.lock_accounts``); each module holds one kind of row."""
from __future__ import annotations

from services.points.repo.accounts import (
    Account,
    brief,
    export_rows,
    get_account,
    lock_accounts,
    lock_refs,
    move_member,
    open_accounts,
    resolve,
    save_accounts,
    set_status,
    tiered_members,
)
from services.points.repo.activities import (
    activities_between,
    claim_activity,
)
from services.points.repo.budgets import (
    budgeted_sources,
    give_back_award,
    grant_audience,
    granted_audiences,
    lock_budgets,
    move_bonus_state,
    set_budget,
    take_award,
    take_budget,
)
from services.points.repo.holds import (
    expired_holds,
    finish_hold,
    get_hold,
    give_back_to_lots,
    hold_parts,
    insert_hold,
    open_holds,
    redeemed_for_sale,
)
from services.points.repo.lots import (
    add_ledger,
    add_lots,
    adjusted_today,
    adjustment,
    claim_reminder,
    expiring_between,
    history,
    member_lots,
    members_with_expired_lots,
    open_lots,
    summaries,
    take_from_lots,
    trim_lots,
)
from services.points.repo.programs import (
    add_bonus_rule,
    add_program,
    all_bonus_rules,
    bonus_rules_since,
    end_bonus_rule,
    end_bonus_rules_of,
    program_versions,
    seed_program,
)
from services.points.repo.refund_path import (
    existing_refunds,
    insert_refunds,
    open_lots_of,
    record_refunds_on_sales,
    redeemed_for_sales,
)
from services.points.repo.reports import (
    daily,
    liability,
    settlement,
)
from services.points.repo.sale_path import (
    add_to_summary,
    sale_context,
    write_sales,
)
from services.points.repo.sales import (
    earned_between,
    existing_refund,
    existing_sales,
    insert_refund,
    qualifying,
    record_refund_on_sale,
    sale_members,
)

__all__ = [
    "Account", "activities_between", "add_bonus_rule", "add_ledger", "add_lots", "add_program", "add_to_summary",
    "adjusted_today", "adjustment", "all_bonus_rules", "bonus_rules_since", "brief", "budgeted_sources",
    "claim_activity", "claim_reminder", "daily", "earned_between", "end_bonus_rule", "end_bonus_rules_of",
    "existing_refund", "existing_sales", "expired_holds", "expiring_between", "export_rows", "finish_hold",
    "get_account", "get_hold", "give_back_award", "give_back_to_lots", "grant_audience", "granted_audiences",
    "history", "hold_parts", "insert_hold", "insert_refund", "liability", "lock_accounts", "lock_budgets",
    "lock_refs", "members_with_expired_lots", "move_bonus_state", "move_member", "open_accounts", "open_holds",
    "open_lots", "program_versions", "qualifying", "record_refund_on_sale", "redeemed_for_sale", "resolve",
    "sale_context", "sale_members", "save_accounts", "seed_program", "set_budget", "set_status", "settlement",
    "summaries", "take_award", "take_budget", "take_from_lots", "tiered_members", "trim_lots", "write_sales",
    "existing_refunds", "insert_refunds", "open_lots_of", "record_refunds_on_sales", "redeemed_for_sales",
    "member_lots",
]
