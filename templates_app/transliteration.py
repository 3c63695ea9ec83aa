"""Letters outside GSM 03.38 and their closest GSM letters: the `transliterate` option (SPEC §6).

Smart encoding never changes a letter; `transliterate` does, on request, and the user sees the
result before sending (the compose counter shows it). For one letter:

- a letter with diacritics drops the marks GSM 03.38 does not have, last first, until it is a GSM
  letter: ç → c, ê → e, ő → o, ș → s, ẹ → e, but ǘ → ü and ǻ → å (GSM has ü and å);
- a letter without a decomposition has its own (ł → l, đ → d, ı → i, œ → oe, þ → th, ɛ → e,
  ɓ → b …: Polish, Croatian, Turkish, French, Icelandic, and the West African alphabets);
- a compatibility form becomes its plain letters (full-width ａ → a, ligature ﬁ → fi, 𝐀 → A);
- letters of other scripts (Cyrillic, Arabic, Greek small letters, CJK…) have no GSM letter: they
  stay, and a text holding one stays UCS-2 (and is then sent as written).

Pure functions, no database.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from templates_app.gsm import is_gsm

# Letters with no canonical decomposition, and the GSM letters they are written with.
SPECIAL_LETTERS: dict[str, str] = {
    "ł": "l", "Ł": "L",  # Polish
    "đ": "d", "Đ": "D",  # Croatian, Vietnamese
    "ð": "d", "Ð": "D", "þ": "th", "Þ": "Th",  # Icelandic
    "ı": "i",  # Turkish dotless i (İ decomposes: I + dot)
    "œ": "oe", "Œ": "OE",  # French
    "ẞ": "SS",  # German capital sharp s (the small ß is GSM)
    "ħ": "h", "Ħ": "H",  # Maltese
    "ŧ": "t", "Ŧ": "T", "ŋ": "n", "Ŋ": "N",  # Sami, many African alphabets
    "ĸ": "k", "ſ": "s", "ƒ": "f",
    "ə": "e", "Ə": "E",  # Azerbaijani
    "ɛ": "e", "Ɛ": "E", "ɔ": "o", "Ɔ": "O",  # Akan, Ewe, Bambara, Lingala …
    "ɓ": "b", "Ɓ": "B", "ɗ": "d", "Ɗ": "D", "ƙ": "k", "Ƙ": "K", "ƴ": "y", "Ƴ": "Y",  # Hausa, Fula
    "ɖ": "d", "Ɖ": "D", "ʋ": "v", "Ʋ": "V",  # Ewe
    "ɨ": "i", "Ɨ": "I", "ʉ": "u", "Ʉ": "U",
    "ɣ": "g", "Ɣ": "G", "ǝ": "e", "Ǝ": "E", "ƞ": "n", "Ƞ": "N",  # Ewe, Dinka, Pan-Nigerian
    # Letters with a stroke, a hook or a bar, which Unicode does not decompose.
    "ƀ": "b", "Ƀ": "B", "ƃ": "b", "Ƃ": "B", "ƈ": "c", "Ƈ": "C", "ȼ": "c", "Ȼ": "C", "ƌ": "d", "Ƌ": "D",
    "ȡ": "d", "ɇ": "e", "Ɇ": "E", "Ƒ": "F", "ǥ": "g", "Ǥ": "G", "Ɠ": "G", "ɉ": "j", "Ɉ": "J", "ȷ": "j",
    "ƚ": "l", "Ƚ": "L", "ȴ": "l", "Ɲ": "N", "ȵ": "n", "Ɵ": "O", "ƥ": "p", "Ƥ": "P", "ɋ": "q", "Ɋ": "Q",
    "ɍ": "r", "Ɍ": "R", "Ʀ": "R", "ȿ": "s", "ẜ": "s", "ẝ": "s", "ƫ": "t", "ƭ": "t", "Ƭ": "T", "Ʈ": "T",
    "ȶ": "t", "Ⱦ": "T", "Ⱥ": "A", "ẚ": "a", "Ʊ": "U", "ɏ": "y", "Ɏ": "Y", "ỿ": "y", "Ỿ": "Y", "ƶ": "z",
    "Ƶ": "Z", "ȥ": "z", "Ȥ": "Z", "ɀ": "z", "Ɩ": "I", "ŉ": "n", "ẟ": "d", "ỻ": "ll", "Ỻ": "LL",
    "ỽ": "v", "Ỽ": "V", "ƣ": "oi", "Ƣ": "OI", "ȣ": "ou", "Ȣ": "OU", "ȸ": "db", "ȹ": "qp",
    "ƕ": "hv", "Ƕ": "Hv", "ƿ": "w", "Ƿ": "W",
}  # fmt: skip


def _gsm_letters(text: str) -> bool:
    return bool(text) and is_gsm(text) and text.isalpha()


@lru_cache(maxsize=4096)
def closest_gsm_letter(letter: str) -> str | None:
    """The GSM letter(s) closest to one letter: itself when it is GSM, None when there is none."""
    if is_gsm(letter):
        return letter
    special = SPECIAL_LETTERS.get(letter)
    if special is not None:
        return special
    decomposed = unicodedata.normalize("NFD", letter)
    while len(decomposed) > 1:  # drop the marks, last first, until the letter is GSM
        decomposed = decomposed[:-1]
        composed = unicodedata.normalize("NFC", decomposed)
        if _gsm_letters(composed):
            return composed
        if len(composed) == 1 and composed in SPECIAL_LETTERS:
            return SPECIAL_LETTERS[composed]
    compatible = unicodedata.normalize("NFKD", letter)
    if compatible != letter:
        plain = [closest_gsm_letter(c) for c in compatible if unicodedata.category(c)[0] == "L"]
        if plain and all(p is not None for p in plain):
            mapped = "".join(p for p in plain if p is not None)
            return mapped if _gsm_letters(mapped) else None
    return None


def transliterate(text: str) -> str:
    """Every letter of `text` as its closest GSM letter, the marks on it dropped; anything else
    as written. Composed first (NFC), so a letter typed as base + combining marks is one letter."""
    pieces: list[str] = []
    on_mapped_letter = False
    for character in unicodedata.normalize("NFC", text):
        category = unicodedata.category(character)
        if category[0] == "M":
            if not on_mapped_letter:  # a mark on a letter that has no GSM form, or on no letter
                pieces.append(character)
            continue
        if category[0] == "L":
            mapped = closest_gsm_letter(character)
            on_mapped_letter = mapped is not None
            pieces.append(character if mapped is None else mapped)
        else:
            on_mapped_letter = False
            pieces.append(character)
    return "".join(pieces)
