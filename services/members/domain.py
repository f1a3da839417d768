"""Members' pure rules: validation and normalisation. No I/O, no clock."""
from __future__ import annotations

import re
import unicodedata

from contracts.errors import InvalidInput

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


def clean_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise InvalidInput("must not be empty", "name")
    if len(name) > 100:
        raise InvalidInput("at most 100 characters", "name")
    if not all(_name_char(ch) for ch in name):
        raise InvalidInput("letters, digits, spaces and . - ' only", "name")
    return name


_NAME_PUNCTUATION = set(" .-'·’")


def _name_char(ch: str) -> bool:
    """Letters, combining marks and digits of any script, and the punctuation names use."""
    return ch in _NAME_PUNCTUATION or unicodedata.category(ch)[0] in ("L", "M", "N")


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
