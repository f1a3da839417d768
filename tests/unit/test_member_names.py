"""The names members really have are accepted as typed; markup, control characters and absurd
input are refused naming the field."""
from __future__ import annotations

import unicodedata

import pytest

from contracts.errors import InvalidInput
from services.members import domain
from services.members.names import MAX_NAME_CHARS

REAL_NAMES = [
    # Chinese, and transliterated or minority names with the middle dot as different keyboards type it
    "李雷", "欧阳娜娜", "迪丽热巴・迪力木拉提", "迪丽热巴·迪力木拉提", "迪丽热巴•迪力木拉提", "买买提‧艾力",
    "阿沛·阿旺晋美", "爱新觉罗·溥仪", "约翰･史密斯", "王(小明)", "王（小明）", "李〇",
    # Tibetan, Uyghur, Mongolian, Yi scripts
    "བསྟན་འཛིན་རྒྱ་མཚོ", "ئابدۇرېھىم ئۆتكۈر", "ᠪᠠᠲᠦ", "ꆈꌠ",
    # Japanese and Korean
    "山田 太郎", "やまだ たろう", "ヤマダ・タロウ", "サトー", "김민준", "이 서연",
    # Latin with accents, apostrophes, hyphens, initials, particles
    "Zoë O'Brien-Smith", "N’Golo Kanté", "José María Ñúñez", "Nguyễn Thị Minh Khai", "Łukasz Żółć",
    "Jean-Luc Picard", "J. R. R. Tolkien", "Ludwig van Beethoven", "Smith, John", "Björk Guðmundsdóttir",
    "Ōtani Shōhei", "Kāʻeo", "Seán Ó Súilleabháin", "D'Angelo", "Mary-Kate O’Neil",
    # other scripts seen in the chain's markets
    "Алексей Иванов", "Γιώργος Παπαδόπουλος", "محمد بن سلمان", "नरेन्द्र मोदी", "สมชาย ใจดี", "Nguyễn Văn A",
    "Louis XIV", "王2",
]


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_are_accepted_as_typed(name):
    assert domain.clean_name(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize("raw, expected", [
    ("  Li   Lei ", "Li Lei"),
    ("山田\u3000太郎", "山田 太郎"),  # the ideographic space of Chinese and Japanese keyboards
    ("Zoe\u0308", "Zoë"),  # a decomposed accent is stored composed (NFC): one spelling, one search
    ("A\u00a0B", "A B"),
])
def test_names_are_normalised(raw, expected):
    assert domain.clean_name(raw) == expected


@pytest.mark.parametrize("bad", [
    "", "   ", "x" * (MAX_NAME_CHARS + 1), "李" * (MAX_NAME_CHARS + 1),
    "a\x00b", "Li\nLei", "Li\tLei", "Li\rLei", "abc\u202edcba", "Li\u200bLei", "Li\x7fLei",
    "<script>alert(1)</script>", "<b>Li</b>", "Bob'); DROP TABLE members;--", "a=b", "Li & Lei",
    '"Li"', "{{name}}", "${name}", "Li/Lei", "Li\\Lei", "li@example.com", "#1 fan", "Li; Lei",
    "王(小明", "王小明)", "王((小明))", "...", "- -", "()", "123", "Z\u0301\u0302\u0303\u0304\u0305\u0306\u0307",
    "😀", "Li 😀",
])
def test_markup_control_characters_and_absurd_names_are_refused(bad):
    with pytest.raises(InvalidInput) as raised:
        domain.clean_name(bad)
    assert raised.value.field == "name"


def test_a_name_of_the_largest_size_is_accepted():
    assert domain.clean_name("李" * MAX_NAME_CHARS) == "李" * MAX_NAME_CHARS


@pytest.mark.parametrize("store", ["SH-001", "bj_02", "NY.5", "A"])
def test_store_codes(store):
    assert domain.check_store(store) == store


@pytest.mark.parametrize("bad", ["", "-SH", "SH 001", "SH/001", "<x>", "S" * 65])
def test_bad_store_codes_name_the_field(bad):
    with pytest.raises(InvalidInput) as raised:
        domain.check_store(bad)
    assert raised.value.field == "registration_store"
