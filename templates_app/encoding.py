"""SMS encoding: GSM 03.38 or UCS-2, lengths, parts, and smart encoding. Pure functions, no database.

Counted as Twilio counts (its calculator, npm `sms-segments-calculator`, is the oracle of
tests/templates_app/test_twilio_oracle.py), so a quote matches what the provider charges:

- GSM 03.38 default alphabet: the basic set costs 1 septet a character, the extension table
  (`^{}\\[~]|€` and form feed) 2 septets (escape + character). A single message carries 160 septets,
  each part of a concatenated one 153 (the user data header takes the rest).
- Anything else makes the whole message UCS-2, counted in UTF-16 code units: 70 for a single
  message, 67 a part. Characters outside the Basic Multilingual Plane (most emoji) take two units.
- Parts are filled greedily, grapheme cluster by cluster (`graphemes`: Twilio's segmenter), so an
  escape pair, a surrogate pair, an emoji ZWJ sequence, a flag, a skin tone or a letter with its
  combining marks never splits across parts: when it does not fit, it starts the next part. Only a
  cluster longer than a whole part is cut (between code points): it could not be sent otherwise.
- Empty text is 0 parts: there is nothing to send (callers refuse empty messages).
- ESC (U+001B) is not treated as GSM even though it has a code point: alone, it would swallow the
  next character on the handset. Text containing it is sent as UCS-2.

`optimize_text` ("smart encoding") replaces the 271 characters of Twilio's Smart Encoding table
(`lookalikes`) by GSM characters, outside URLs, never changing a letter, and only when that makes
the whole message GSM-7; `transliterate=True` also writes letters outside GSM with their closest
GSM letters (`transliteration`). See docs/templates.md.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Set
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from templates_app.graphemes import joined_positions
from templates_app.gsm import GSM_BASIC, GSM_EXTENSION, NON_GSM
from templates_app.gsm import is_gsm as is_gsm  # re-exported: callers use encoding.is_gsm
from templates_app.lookalikes import SMART_ENCODING
from templates_app.transliteration import transliterate as closest_letters

if TYPE_CHECKING:
    from linkify_it import LinkifyIt

GSM7 = "gsm7"
UCS2 = "ucs2"

GSM_SINGLE_LIMIT = 160
GSM_PART_LIMIT = 153
UCS2_SINGLE_LIMIT = 70
UCS2_PART_LIMIT = 67

# The GSM 03.38 default alphabet (templates_app/gsm.py), re-exported: GSM_BASIC, GSM_EXTENSION, is_gsm.
_NON_GSM = NON_GSM
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


def non_gsm_characters(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_NON_GSM.findall(text)))


def _utf16_units(text: str) -> int:
    # surrogatepass: a lone surrogate (possible in a Python str) still counts as one unit.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _part_ends(text: str, doubles: re.Pattern[str], part_limit: int, joined: Set[int] = frozenset()) -> list[int]:
    """End index (exclusive, in characters) of each part, filled greedily up to part_limit.

    Characters matching `doubles` cost 2 (escape pair, surrogate pair), the rest 1. The cost of
    text[:e] is e plus the doubles before e, which only grows with e: a binary search finds where
    each part ends, and a pair is never cut since whole characters are placed. A part may not end
    at an index of `joined` (inside a grapheme cluster): it ends at the cluster's start instead,
    which is what filling cluster by cluster gives, unless the cluster alone is longer than a part.
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
        end = low
        while end in joined:
            end -= 1
        ends.append(end if end > start else low)
        start = ends[-1]
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
    else:
        joined = joined_positions(text)
        if length == len(text) and not joined:  # no surrogate pairs, no clusters: plain division
            segments = -(-length // UCS2_PART_LIMIT)
        else:
            segments = len(_part_ends(text, _ASTRAL, UCS2_PART_LIMIT, joined))
    return SmsInfo(UCS2, length, segments, tuple(dict.fromkeys(non_gsm)))


def split_segments(text: str) -> list[str]:
    """The parts `text` is sent as; an escape pair, a surrogate pair or a grapheme cluster never
    splits. [] for empty text."""
    info = analyze(text)
    if info.segments <= 1:
        return [text] if text else []
    if info.encoding == GSM7:
        ends = _part_ends(text, _EXTENSION, GSM_PART_LIMIT)
    else:
        ends = _part_ends(text, _ASTRAL, UCS2_PART_LIMIT, joined_positions(text))
    parts, start = [], 0
    for end in ends:
        parts.append(text[start:end])
        start = end
    return parts


# --- Smart encoding ------------------------------------------------------------------------------

SMART_REPLACEMENTS: dict[str, str] = SMART_ENCODING  # Twilio's table: templates_app/lookalikes.py
# Combining marks of the table (U+0302 circumflex, U+0303 tilde, U+0326 comma below…): on a letter
# they are part of it (ê typed as e + U+0302, ș as s + U+0326) and stay; alone they are replaced.
_SMART_MARKS = frozenset(c for c in SMART_REPLACEMENTS if unicodedata.category(c).startswith("M"))
# A regex over the table's keys beats str.translate: it scans in C and calls back only on hits.
_SMART = re.compile("[" + re.escape("".join(SMART_REPLACEMENTS)) + "]")


def _on_letter(text: str, at: int) -> bool:
    """Whether the combining mark at text[at] belongs to a letter (other marks may come between)."""
    while at > 0:
        at -= 1
        category = unicodedata.category(text[at])
        if not category.startswith("M"):
            return category.startswith("L")
    return False


def _smart_character(match: re.Match[str]) -> str:
    character = match.group()
    if character in _SMART_MARKS and _on_letter(match.string, match.start()):
        return character
    return SMART_REPLACEMENTS[character]


def _smart_replace(text: str) -> str:
    return _SMART.sub(_smart_character, text)


def _rewrite(text: str, transliterate: bool) -> str:
    text = _smart_replace(text)
    if transliterate:
        text = closest_letters(text)
    return text


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


def _rewrite_outside(text: str, urls: list[tuple[int, int, str]], transliterate: bool) -> str:
    pieces, position = [], 0
    for start, end, _ in urls:
        pieces.append(_rewrite(text[position:start], transliterate))
        pieces.append(text[start:end])
        position = end
    pieces.append(_rewrite(text[position:], transliterate))
    return "".join(pieces)


def optimize_text(text: str, *, transliterate: bool = False) -> str:
    """Smart encoding: the characters of Twilio's Smart Encoding table become their GSM
    equivalents, so the message can go as GSM-7; with `transliterate`, letters outside GSM become
    their closest GSM letters too (ç → c, ł → l).

    Returns `text` unchanged (all or nothing, as Twilio's own Smart Encoding does) when it is
    already GSM, when the result would still not be GSM (a message that stays UCS-2 is sent as
    written, emoji sequences intact; without `transliterate` that includes any letter outside GSM,
    ç too), or when a URL would be touched.
    """
    if _NON_GSM.search(text) is None or (not transliterate and _SMART.search(text) is None):
        return text
    optimized = _rewrite(text, transliterate)
    if _NON_GSM.search(optimized) is not None:
        return text
    urls = find_urls(text)
    if urls:
        optimized = _rewrite_outside(text, urls, transliterate)
        if _NON_GSM.search(optimized) is not None:
            return text  # a character that needs replacing is inside a URL: leave the message alone
        # A replacement next to a URL could join it (e.g. "example.com‐foo" → "example.com-foo").
        found = {url for _, _, url in find_urls(optimized)}
        if any(url not in found for _, _, url in urls):
            return text
    return optimized
