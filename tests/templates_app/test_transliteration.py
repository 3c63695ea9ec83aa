"""The `transliterate` option's letters (SPEC §6): each letter outside GSM 03.38 → its closest GSM
letter(s); letters of other scripts have none."""

from __future__ import annotations

import unicodedata

import pytest

from templates_app.encoding import is_gsm
from templates_app.transliteration import SPECIAL_LETTERS, closest_gsm_letter, transliterate


@pytest.mark.parametrize(
    ("letter", "expected"),
    [
        ("ç", "c"), ("ê", "e"), ("ő", "o"), ("ł", "l"), ("Ł", "L"), ("ș", "s"), ("ş", "s"), ("ț", "t"),
        ("đ", "d"), ("ı", "i"), ("İ", "I"), ("ğ", "g"), ("œ", "oe"), ("ẞ", "SS"), ("þ", "th"),
        ("ế", "e"), ("ữ", "u"), ("ẹ", "e"), ("ɛ", "e"), ("ɔ", "o"), ("ɓ", "b"), ("ƙ", "k"),
        ("ǘ", "ü"), ("ǻ", "å"), ("Ǿ", "Ø"),  # GSM has ü, å, Ø: only the extra mark goes
        ("ｂ", "b"), ("ﬁ", "fi"), ("𝐀", "A"), ("ǆ", "dz"),
        ("é", "é"), ("Ç", "Ç"), ("ß", "ß"), ("Δ", "Δ"),  # GSM letters stay
    ],
)  # fmt: skip
def test_closest_gsm_letter(letter, expected):
    assert closest_gsm_letter(letter) == expected


@pytest.mark.parametrize("letter", ["ж", "λ", "Ά", "ع", "ש", "क", "中", "の", "한", "ก"])
def test_letters_of_other_scripts_have_none(letter):
    assert closest_gsm_letter(letter) is None


def test_every_latin_letter_has_a_gsm_letter():
    """Latin-1 Supplement to Latin Extended-B, Latin Extended Additional: every letter has one."""
    ranges = [(0x00C0, 0x024F), (0x1E00, 0x1EFF)]
    missing = []
    for first, last in ranges:
        for code in range(first, last + 1):
            letter = chr(code)
            if not unicodedata.category(letter).startswith("L") or "LATIN" not in unicodedata.name(letter, ""):
                continue
            mapped = closest_gsm_letter(letter)
            if mapped is None:
                missing.append(letter)
            else:
                assert is_gsm(mapped), (letter, mapped)
                assert mapped.isalpha(), (letter, mapped)
    # What is left has no evident Latin reading (tone letters, clicks, ezh, esh, yogh, glottal stops).
    assert "".join(missing) == "ƄƅƍƛƜƧƨƩƪƷƸƹƺƻƼƽƾǀǁǂǃǮǯȜȝɁɂɅ"


def test_special_letters_are_gsm_letters():
    assert all(is_gsm(value) and value.isalpha() for value in SPECIAL_LETTERS.values())
    assert all(len(key) == 1 and not is_gsm(key) for key in SPECIAL_LETTERS)


def test_transliterate_composes_first_and_drops_the_marks_of_a_letter():
    assert transliterate("na\u0303o e\u0302tre q\u0301") == "nao etre q"  # q́ has no precomposed form
    assert transliterate("n\u0303") == "ñ"  # composed, ñ is GSM
    assert transliterate("ж\u0301") == "ж\u0301"  # a letter with no GSM form keeps its marks
    assert transliterate("1\u20e3 \u0301") == "1\u20e3 \u0301"  # marks on no letter: not ours to drop
