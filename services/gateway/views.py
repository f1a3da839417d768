"""What each caller may see of personal data."""
from __future__ import annotations

from services.gateway.security.principal import Principal


def mask_phone(e164: str) -> str:
    """138****5678 for mainland China mobiles; +44******0958 elsewhere."""
    if e164.startswith("+86") and len(e164) == 14:
        national = e164[3:]
        return national[:3] + "****" + national[-4:]
    if len(e164) <= 7:
        return "*" * len(e164)
    return e164[:3] + "*" * (len(e164) - 7) + e164[-4:]


def mask_email(email: str) -> str:
    """l***@example.com"""
    local, _, domain = email.partition("@")
    return (local[:1] or "*") + "***@" + domain


def mask_id_number(value: str) -> str:
    return "*" * max(len(value) - 4, 0) + value[-4:]


def sees_contact_data(caller: Principal, member_store: str | None, member_id: str) -> bool:
    """Full phone and email: admins, managers of the member's store, ERP keys, the member."""
    if caller.kind == "member":
        return caller.member_id == member_id
    if caller.kind == "key":
        return "erp" in caller.roles
    if "admin" in caller.roles:
        return True
    return "manager" in caller.roles and caller.covers_store(member_store)
