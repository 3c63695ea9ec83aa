"""SMS encoding: GSM 03.38 or UCS-2, lengths, parts, and smart encoding. Pure functions, no database.

- GSM 03.38 default alphabet: the basic set costs 1 septet a character, the extension table
  (`^{}\\[~]|€` and form feed) 2 septets (escape + character). A single message carries 160 septets,
  each part of a concatenated one 153 (the user data header takes the rest).
- Anything else makes the whole message UCS-2, counted in UTF-16 code units: 70 for a single
  message, 67 a part. Characters outside the Basic Multilingual Plane (most emoji) take two units.
- Parts are filled greedily, character by character, so an escape pair (2 septets) or a surrogate
  pair (2 units) is never split across parts: when it does not fit, it starts the next part.
- Empty text is 0 parts: there is nothing to send (callers refuse empty messages).
- ESC (U+001B) is not treated as GSM even though it has a code point: alone, it would swallow the
  next character on the handset. Text containing it is sent as UCS-2.

`optimize_text` ("smart encoding") replaces typographic look-alikes by GSM characters, outside URLs,
and only when that makes the whole message GSM-7 without adding parts; see docs/templates.md.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from linkify_it import LinkifyIt

GSM7 = "gsm7"
UCS2 = "ucs2"

GSM_SINGLE_LIMIT = 160
GSM_PART_LIMIT = 153
UCS2_SINGLE_LIMIT = 70
UCS2_PART_LIMIT = 67

# GSM 03.38 default alphabet in code-point order 0x00–0x7F, without ESC (0x1B, see above).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ"
    "ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"

_NON_GSM = re.compile("[^" + re.escape(GSM_BASIC + GSM_EXTENSION) + "]")
_NOT_BASIC = re.compile("[^" + re.escape(GSM_BASIC) + "]")
_EXTENSION_SET = frozenset(GSM_EXTENSION)
_EXTENSION = re.compile("[" + re.escape(GSM_EXTENSION) + "]")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")  # two UTF-16 units (a surrogate pair) each


@dataclass(frozen=True, slots=True)
class SmsInfo:
    encoding: str  # GSM7 or UCS2
    length: int  # septets (GSM 03.38) or UTF-16 code units (UCS-2)
    segments: int  # parts
    non_gsm_characters: tuple[str, ...]  # distinct characters that forced UCS-2, in order of first appearance


def is_gsm(text: str) -> bool:
    """True when every character is in the GSM 03.38 basic set or its extension table."""
    return _NON_GSM.search(text) is None


def non_gsm_characters(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_NON_GSM.findall(text)))


def _utf16_units(text: str) -> int:
    # surrogatepass: a lone surrogate (possible in a Python str) still counts as one unit.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _part_ends(text: str, doubles: re.Pattern[str], part_limit: int) -> list[int]:
    """End index (exclusive, in characters) of each part, filled greedily up to part_limit.

    Characters matching `doubles` cost 2 (escape pair, surrogate pair), the rest 1. The cost of
    text[:e] is e plus the doubles before e, which only grows with e: a binary search finds where
    each part ends, and a pair is never cut since whole characters are placed.
    """
    positions = [match.start() for match in doubles.finditer(text)]
    n = len(text)
    ends: list[int] = []
    start = 0
    while start < n:
        target = start + bisect_left(positions, start) + part_limit
        low, high = start + 1, n  # part_limit >= 2, so at least one character always fits
        while low < high:
            middle = (low + high + 1) // 2
            if middle + bisect_left(positions, middle) <= target:
                low = middle
            else:
                high = middle - 1
        ends.append(low)
        start = low
    return ends


def analyze(text: str) -> SmsInfo:
    """Encoding, length and number of parts of `text` as it would be sent (no smart encoding)."""
    if not text:
        return SmsInfo(GSM7, 0, 0, ())
    # One scan finds everything outside the basic set; usually nothing, so plain GSM text is cheap.
    special = _NOT_BASIC.findall(text)
    non_gsm = [c for c in special if c not in _EXTENSION_SET] if special else special
    if not non_gsm:
        extension = len(special)
        length = len(text) + extension
        if length <= GSM_SINGLE_LIMIT:
            segments = 1
        elif not extension:
            segments = -(-length // GSM_PART_LIMIT)
        else:
            segments = len(_part_ends(text, _EXTENSION, GSM_PART_LIMIT))
        return SmsInfo(GSM7, length, segments, ())
    length = _utf16_units(text)
    if length <= UCS2_SINGLE_LIMIT:
        segments = 1
    elif length == len(text):  # no surrogate pairs: plain division
        segments = -(-length // UCS2_PART_LIMIT)
    else:
        segments = len(_part_ends(text, _ASTRAL, UCS2_PART_LIMIT))
    return SmsInfo(UCS2, length, segments, tuple(dict.fromkeys(non_gsm)))


def split_segments(text: str) -> list[str]:
    """The parts `text` is sent as; an escape pair or a surrogate pair never splits. [] for empty text."""
    info = analyze(text)
    if info.segments <= 1:
        return [text] if text else []
    if info.encoding == GSM7:
        ends = _part_ends(text, _EXTENSION, GSM_PART_LIMIT)
    else:
        ends = _part_ends(text, _ASTRAL, UCS2_PART_LIMIT)
    parts, start = [], 0
    for end in ends:
        parts.append(text[start:end])
        start = end
    return parts


# --- Smart encoding ------------------------------------------------------------------------------

_QUOTES = {
    "\u2018": "'",  # ‘ left single quotation mark
    "\u2019": "'",  # ’ right single quotation mark / apostrophe
    "\u201a": "'",  # ‚ single low-9 quotation mark
    "\u201b": "'",  # ‛ single high-reversed-9 quotation mark
    "\u2032": "'",  # ′ prime
    "\u2039": "'",  # ‹ single left-pointing angle quotation mark
    "\u203a": "'",  # › single right-pointing angle quotation mark
    "\u0060": "'",  # ` grave accent (not in GSM 03.38)
    "\u00b4": "'",  # ´ acute accent
    "\u02bc": "'",  # ʼ modifier letter apostrophe
    "\u201c": '"',  # “ left double quotation mark
    "\u201d": '"',  # ” right double quotation mark
    "\u201e": '"',  # „ double low-9 quotation mark
    "\u201f": '"',  # ‟ double high-reversed-9 quotation mark
    "\u2033": '"',  # ″ double prime
    "\u00ab": '"',  # « left-pointing double angle quotation mark
    "\u00bb": '"',  # » right-pointing double angle quotation mark
}
_DASHES = {
    "\u2010": "-",  # ‐ hyphen
    "\u2011": "-",  # ‑ non-breaking hyphen
    "\u2012": "-",  # ‒ figure dash
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2015": "-",  # ― horizontal bar
    "\u2212": "-",  # − minus sign
    "\u2043": "-",  # ⁃ hyphen bullet
    "\ufe58": "-",  # ﹘ small em dash
}
_ELLIPSIS = {"\u2026": "..."}  # …
_SPACES = {
    "\t": " ",  # tab: GSM 03.38 has none
    "\u00a0": " ",  # no-break space
    "\u1680": " ",  # ogham space mark
    **{chr(code): " " for code in range(0x2000, 0x200B)},  # en quad … hair space (thin, em, en, figure…)
    "\u202f": " ",  # narrow no-break space
    "\u205f": " ",  # medium mathematical space
    "\u3000": " ",  # ideographic space
    "\u2028": "\n",  # line separator
    "\u2029": "\n",  # paragraph separator
}
_ZERO_WIDTH = {
    "\u00ad": "",  # soft hyphen
    "\u180e": "",  # mongolian vowel separator
    "\u200b": "",  # zero width space
    "\u200c": "",  # zero width non-joiner
    "\u200d": "",  # zero width joiner
    "\u2060": "",  # word joiner
    "\ufeff": "",  # zero width no-break space / byte order mark
}
# Full-width ASCII (U+FF01–U+FF5E) → ASCII; the full-width grave accent maps like the ASCII one.
_FULL_WIDTH = {chr(code): chr(code - 0xFEE0) for code in range(0xFF01, 0xFF5F)} | {"\uff40": "'"}
_FRACTIONS = {
    "\u00bc": "1/4",
    "\u00bd": "1/2",
    "\u00be": "3/4",
    "\u2150": "1/7",
    "\u2151": "1/9",
    "\u2152": "1/10",
    "\u2153": "1/3",
    "\u2154": "2/3",
    "\u2155": "1/5",
    "\u2156": "2/5",
    "\u2157": "3/5",
    "\u2158": "4/5",
    "\u2159": "1/6",
    "\u215a": "5/6",
    "\u215b": "1/8",
    "\u215c": "3/8",
    "\u215d": "5/8",
    "\u215e": "7/8",
}

# GSM 03.38's 0x09 was a lowercase ç in the standard's first edition and many handsets still show
# it so: ç as Ç is the one letter smart encoding changes (every other letter keeps its meaning).
_CEDILLA = {"\u00e7": "\u00c7"}  # ç → Ç

SMART_REPLACEMENTS: dict[str, str] = {
    **_QUOTES,
    **_CEDILLA,
    **_DASHES,
    **_ELLIPSIS,
    **_SPACES,
    **_ZERO_WIDTH,
    **_FULL_WIDTH,
    **_FRACTIONS,
}
# A regex over the table's keys beats str.translate: it scans in C and calls back only on hits.
_SMART = re.compile("[" + re.escape("".join(SMART_REPLACEMENTS)) + "]")
_SMART_LOOKUP = SMART_REPLACEMENTS.__getitem__


def _smart_replace(text: str) -> str:
    return _SMART.sub(lambda match: _SMART_LOOKUP(match.group()), text)


# A URL, as linkify-it finds them, needs a scheme (":"), a dotted host (".") or an e-mail ("@")
# followed by a non-space: texts without any are not worth linkify's ~100 µs.
_URL_HINT = re.compile(r"[.:@]\S")


@lru_cache(maxsize=1)
def _linkify() -> LinkifyIt:
    from linkify_it import LinkifyIt

    return LinkifyIt()


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each URL or e-mail address in `text`, as linkify-it finds them."""
    if _URL_HINT.search(text) is None:
        return []
    return [(m.index, m.last_index, m.text) for m in _linkify().match(text) or ()]


def find_web_links(text: str) -> list[tuple[int, int, str]]:
    """(start, end, url) of each web link in `text` as linkify-it finds it: http(s) URLs and
    scheme-less links ("example.com/x", normalized to http://), not e-mail addresses."""
    if _URL_HINT.search(text) is None:
        return []
    found = []
    for match in _linkify().match(text) or ():
        schema = (match.schema or "").lower()
        if schema in ("http:", "https:") or (schema == "" and not match.url.startswith("mailto:")):
            found.append((match.index, match.last_index, match.url))
    return found


def _translate_outside(text: str, urls: list[tuple[int, int, str]]) -> str:
    pieces, position = [], 0
    for start, end, _ in urls:
        pieces.append(_smart_replace(text[position:start]))
        pieces.append(text[start:end])
        position = end
    pieces.append(_smart_replace(text[position:]))
    return "".join(pieces)


def optimize_text(text: str) -> str:
    """Smart encoding: replace look-alikes by GSM characters so the message can go as GSM-7.

    Returns `text` unchanged when it is already GSM, when the replacements would not make it GSM
    (a message that stays UCS-2 is sent as written, emoji sequences intact), when a URL would be
    touched, or when the result would need more parts (e.g. many `…` becoming `...`).
    """
    if _NON_GSM.search(text) is None or _SMART.search(text) is None:
        return text
    optimized = _smart_replace(text)
    if _NON_GSM.search(optimized) is not None:
        return text
    urls = find_urls(text)
    if urls:
        optimized = _translate_outside(text, urls)
        if _NON_GSM.search(optimized) is not None:
            return text  # a character that needs replacing is inside a URL: leave the message alone
        # A replacement next to a URL could join it (e.g. "example.com‐foo" → "example.com-foo").
        found = {url for _, _, url in find_urls(optimized)}
        if any(url not in found for _, _, url in urls):
            return text
    if analyze(optimized).segments > analyze(text).segments:
        return text
    return optimized
