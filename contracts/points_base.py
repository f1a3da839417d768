"""Points contracts' building blocks: printable text, codes, card numbers, plausible times,
and the strict base model every payload uses."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.rpc import to_utc


def _printable(value: str) -> str:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("control characters (NUL, newlines, ...) are not accepted")
    return value


def _plausible(value: datetime | None) -> datetime | None:
    """A time of a sale, refund or activity: in UTC, not before 2000, at most a day ahead (a POS
    clock may be off; a sale cannot happen in the future)."""
    value = to_utc(value)
    if value is not None and not EARLIEST <= value <= datetime.now(UTC) + timedelta(days=1):
        raise ValueError("must be after 2000-01-01 and not in the future")
    return value


def luhn_digit(digits: str) -> str:
    """The Luhn check digit of a card number's body (members issues 12 digits: '8', ten of
    sequence, this digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def _card_number(value: str | None) -> str | None:
    """A mistyped card number is a bad field (422), not an unknown member (404)."""
    if value is not None and not (len(value) == 12 and value.isascii() and value.isdigit()
                                  and luhn_digit(value[:-1]) == value[-1]):
        raise ValueError("not a member number: 12 digits with a valid check digit")
    return value


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
Text = Annotated[str, AfterValidator(_printable)]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Rounding = Literal["floor", "half_up", "ceil"]
TierName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _MemberRef(_Model):
    """Exactly one of member_id and member_number (the card number)."""

    member_id: str | None = Field(default=None, max_length=36)
    member_number: Text | None = Field(default=None, min_length=1, max_length=20)

    _number = field_validator("member_number")(lambda cls, v: _card_number(v))

    @model_validator(mode="after")
    def _one_member(self) -> "_MemberRef":
        if (self.member_id is None) == (self.member_number is None):
            raise ValueError("give exactly one of member_id and member_number")
        return self
