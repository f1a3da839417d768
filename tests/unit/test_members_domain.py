from __future__ import annotations

import pytest

from contracts.errors import InvalidInput
from services.members import domain


@pytest.mark.parametrize("raw, expected", [
    ("13812345678", "+8613812345678"),
    ("138 1234 5678", "+8613812345678"),
    ("138-1234-5678", "+8613812345678"),
    ("+86 138 1234 5678", "+8613812345678"),
    ("008613812345678", "+8613812345678"),
    ("+44 20 7946 0958", "+442079460958"),
    ("+1 (415) 555-2671", "+14155552671"),
])
def test_phone_numbers_are_normalised_to_e164(raw, expected):
    assert domain.normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "23812345678", "+86 123", "+8612345678901", "+0123456789",
                                 "phone", "1381234567x", "+1234567890123456"])
def test_bad_phone_numbers_name_the_field(raw):
    with pytest.raises(InvalidInput) as raised:
        domain.normalize_phone(raw)
    assert raised.value.field == "phone"


def test_names_are_trimmed_and_checked():
    assert domain.clean_name("  Li   Lei ") == "Li Lei"
    assert domain.clean_name("Zoë O'Brien-Smith") == "Zoë O'Brien-Smith"
    assert domain.clean_name("李雷") == "李雷"
    assert domain.clean_name("Li Lei 2") == "Li Lei 2"
    for bad in ("", "   ", "x" * 101, "a\x00b", "<script>", "Bob'); DROP TABLE members;--", "a=b"):
        with pytest.raises(InvalidInput) as raised:
            domain.clean_name(bad)
        assert raised.value.field == "name"


def test_member_numbers_carry_a_luhn_check_digit():
    numbers = [domain.member_number(i) for i in (1, 2, 99, 12345, 9_999_999_999)]
    assert all(len(n) == 12 and n.startswith("8") for n in numbers)
    assert all(domain.is_valid_member_number(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)
    typo = numbers[2][:5] + str((int(numbers[2][5]) + 1) % 10) + numbers[2][6:]
    assert not domain.is_valid_member_number(typo)
    with pytest.raises(ValueError):
        domain.member_number(10**10)
