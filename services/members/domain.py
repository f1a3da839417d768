"""Members' pure rules: validation and normalisation. No I/O, no clock."""
from __future__ import annotations

import calendar
import json
import re
from collections.abc import Mapping
from datetime import date

from contracts.errors import InvalidInput
from services.members.names import clean_name as clean_name  # the rule lives in names.py

_SEPARATORS = re.compile(r"[\s\-().]")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")


def normalize_phone(raw: str) -> str:
    """A phone number in E.164. Numbers without a country code are mainland China mobiles."""
    compact = _SEPARATORS.sub("", raw or "")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not compact.startswith("+"):
        if not _CN_MOBILE.match(compact):
            raise InvalidInput("not a mainland China mobile number; give +<country code> for others", "phone")
        compact = "+86" + compact
    if not _E164.match(compact):
        raise InvalidInput("not a valid international phone number", "phone")
    if compact.startswith("+86") and not _CN_MOBILE.match(compact[3:]):
        raise InvalidInput("not a valid mainland China mobile number", "phone")
    return compact


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def member_number(sequence_value: int) -> str:
    """A printable 12-digit card number: '8', ten digits of sequence, a Luhn check digit."""
    if not 0 < sequence_value < 10**10:
        raise ValueError("member number sequence exhausted")
    body = "8" + str(sequence_value).zfill(10)
    return body + luhn_check_digit(body)


def is_valid_member_number(number: str) -> bool:
    return len(number) == 12 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


GENDERS = ("female", "male", "other", "undisclosed")
EARLIEST_BIRTHDAY = date(1900, 1, 1)
_EMAIL = re.compile(r"^[^@\s<>;,]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9\-]{1,63})+$")
_TAG = re.compile(r"^[\w\-:.]{1,32}$")
_ID_NUMBER = re.compile(r"^[A-Za-z0-9\-]{4,32}$")
MAX_TAGS = 50
MAX_PREFERENCES_BYTES = 4096


def normalize_email(raw: str) -> str:
    email = (raw or "").strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("not a valid email address", "email")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def check_birthday(birthday: date, today: date) -> date:
    if birthday > today:
        raise InvalidInput("must not be in the future", "birthday")
    if birthday < EARLIEST_BIRTHDAY:
        raise InvalidInput("must not be before 1900-01-01", "birthday")
    return birthday


def check_gender(gender: str) -> str:
    if gender not in GENDERS:
        raise InvalidInput(f"one of {', '.join(GENDERS)}", "gender")
    return gender


def check_id_number(raw: str) -> str:
    value = (raw or "").strip().upper()
    if not _ID_NUMBER.match(value):
        raise InvalidInput("4-32 letters, digits or -", "id_number")
    return value


def clean_tags(tags: list[str]) -> list[str]:
    cleaned = sorted({t.strip() for t in tags})
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", "tags")
    for tag in cleaned:
        if not _TAG.match(tag):
            raise InvalidInput(f"not a tag: {tag[:40]!r} (letters, digits, _ - : . up to 32)", "tags")
    return cleaned


def check_preferences(preferences: dict[str, object]) -> dict[str, object]:
    for key, value in preferences.items():
        if not key or len(key) > 64:
            raise InvalidInput("keys of 1-64 characters", "preferences")
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise InvalidInput(f"{key}: values are strings, numbers, booleans or null", "preferences")
    if len(json.dumps(preferences, ensure_ascii=False).encode()) > MAX_PREFERENCES_BYTES:
        raise InvalidInput(f"at most {MAX_PREFERENCES_BYTES} bytes as JSON", "preferences")
    return preferences


def birthday_today(birthday: date, today: date) -> bool:
    """Whether a birthday falls on ``today``; 29 February counts as 28 February in other years."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(today.year):
        return (today.month, today.day) == (2, 28)
    return (birthday.month, birthday.day) == (today.month, today.day)


_STORE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_EXTERNAL_ID = re.compile(r"^[\w.:\-]{1,64}$")


def check_store(raw: str) -> str:
    """A registration store's code, as the tills and the ERP name stores."""
    if not _STORE.match(raw):
        raise InvalidInput("a store code: letters, digits and _ . - up to 64", "registration_store")
    return raw


def import_row(fields: Mapping[str, object], today: date) -> dict[str, object]:
    """One row of an import file, validated and normalised (InvalidInput names the bad field)."""
    def text(name: str) -> str:
        value = fields.get(name)
        return "" if value is None else str(value).strip()

    row: dict[str, object] = {"name": clean_name(text("name")), "phone": normalize_phone(text("phone"))}
    if text("external_id"):
        if not _EXTERNAL_ID.match(text("external_id")):
            raise InvalidInput("1-64 letters, digits or _ . : -", "external_id")
        row["external_id"] = text("external_id")
    if text("email"):
        row["email"] = normalize_email(text("email"))
    if text("id_number"):
        row["id_number"] = check_id_number(text("id_number"))
    if text("gender"):
        row["gender"] = check_gender(text("gender").lower())
    if text("birthday"):
        try:
            born = date.fromisoformat(text("birthday").replace("/", "-"))
        except ValueError:
            raise InvalidInput("a date like 1990-04-01", "birthday") from None
        row["birthday"] = check_birthday(born, today)
    if text("registration_store"):
        row["registration_store"] = check_store(text("registration_store"))
    raw_tags = fields.get("tags")
    if isinstance(raw_tags, list):
        row["tags"] = clean_tags([str(t) for t in raw_tags])
    elif text("tags"):
        row["tags"] = clean_tags([t for t in re.split(r"[;|]", text("tags")) if t.strip()])
    return row
