"""What a member's name may hold: the names people in the chain's markets really have (Chinese,
with the middle dots of transliterated and minority names, Japanese, Korean, Latin with accents,
apostrophes, hyphens, parentheses), and nothing that is markup, a control character or absurd."""
from __future__ import annotations

import unicodedata

from contracts.errors import InvalidInput

MAX_NAME_CHARS = 100
MAX_MARKS_IN_A_ROW = 4  # scripts stack two or three; more is "Zalgo" text, not a name

# the dots that separate given and family names in transliterated and minority Chinese names, as
# typed on different keyboards: · U+00B7, ・ U+30FB, ･ U+FF65, • U+2022, ‧ U+2027, ∙ U+2219, ⋅ U+22C5
MIDDLE_DOTS = frozenset("\u00b7\u30fb\uff65\u2022\u2027\u2219\u22c5")
APOSTROPHES = frozenset("'\u2019\u2018\u02bc\uff07")  # O'Brien, N’Golo, ʼ, full-width '
HYPHENS = frozenset("-\u2010\u2011\u2013\uff0d")  # Jean-Luc, with the hyphens phones type
OTHER_PUNCTUATION = frozenset(" .,\uff0e\u3002")  # spaces, initials (J. R. R.), "Smith, John"
TSHEG = frozenset("\u0f0b\u0f0c")  # Tibetan writes a dot between syllables: བསྟན་འཛིན
OPENING, CLOSING = "(\uff08", ")\uff09"  # 王(小明), 王（小明）: a nickname or former name
ALLOWED_PUNCTUATION = MIDDLE_DOTS | APOSTROPHES | HYPHENS | OTHER_PUNCTUATION | TSHEG | frozenset(OPENING + CLOSING)
JOINERS = frozenset("\u200c\u200d")  # ZWNJ and ZWJ: needed in Persian and Indic spellings
SHOWN = "letters of any script, digits, spaces, . , ' - ( ) and middle dots (· ・ •)"


def clean_name(raw: str) -> str:
    """A name as it is stored: NFC, whitespace runs (ideographic spaces too) as one space, trimmed."""
    text = unicodedata.normalize("NFC", raw or "")
    bad = next((ch for ch in text if _control(ch)), None)
    if bad is not None:
        raise InvalidInput(f"control character U+{ord(bad):04X} not allowed", "name")
    name = " ".join(text.split())
    if not name:
        raise InvalidInput("must not be empty", "name")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"at most {MAX_NAME_CHARS} characters", "name")
    bad = next((ch for ch in name if not _name_char(ch)), None)
    if bad is not None:
        raise InvalidInput(f"{bad!r} is not used in names: {SHOWN} only", "name")
    if not any(unicodedata.category(ch)[0] == "L" for ch in name):
        raise InvalidInput("must contain a letter", "name")
    _check_marks(name)
    _check_brackets(name)
    return name


def _control(ch: str) -> bool:
    """Control and format characters (newlines, tabs, NUL, bidi overrides), bar the joiners."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") and ch not in JOINERS


def _name_char(ch: str) -> bool:
    return ch in ALLOWED_PUNCTUATION or ch in JOINERS or unicodedata.category(ch)[0] in ("L", "M", "N")


def _check_marks(name: str) -> None:
    run = 0
    for ch in name:
        run = run + 1 if unicodedata.category(ch)[0] == "M" else 0
        if run > MAX_MARKS_IN_A_ROW:
            raise InvalidInput(f"more than {MAX_MARKS_IN_A_ROW} combining marks on one letter", "name")


def _check_brackets(name: str) -> None:
    depth = 0
    for ch in name:
        if ch in OPENING:
            depth += 1
            if depth > 1:
                raise InvalidInput("brackets inside brackets", "name")
        elif ch in CLOSING:
            depth -= 1
            if depth < 0:
                raise InvalidInput("a closing bracket without its opening one", "name")
    if depth:
        raise InvalidInput("an opening bracket without its closing one", "name")
