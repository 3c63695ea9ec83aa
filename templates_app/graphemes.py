"""Grapheme clusters as Twilio's segment calculator finds them, so that a part never ends inside one.

Twilio's `sms-segments-calculator` (npm) cuts a message into grapheme clusters with
`grapheme-splitter` 1.0.4 and fills parts cluster by cluster: the extended grapheme clusters of
UAX #29 for Unicode 10.0 (GraphemeBreakProperty 10.0 and the emoji properties E_Base, E_Modifier,
Glue_After_Zwj of emoji-data 5.0). Herald counts parts the same way (`encoding.analyze`), so a
quote matches what the provider counts; tests/templates_app/test_twilio_oracle.py checks both this
table and the clusters against the calculator itself.

Where the splitter reads the rules its own way, we follow it (the provider counts that way):

- "\\r\\n" is two clusters (the calculator splits the pair the splitter joins);
- an emoji modifier joins an emoji base (GB10) only when the cluster's Extend characters, if it
  has any, come right before the modifier: the base is looked for just before the last Extend;
- a flag (two regional indicators, or one after a Prepend) keeps one following Extend, ZWJ or
  SpacingMark at most: `🇫🇷` + two combining marks is two clusters.

Newer emoji (Unicode 11 and later: 🦰, 🧑‍🤝‍🧑, 🥷…) are not E_Base or Glue_After_Zwj here, so their ZWJ
sequences are several clusters, as the calculator counts them. A cluster longer than a part cannot
be sent whole; `encoding` cuts it (the calculator would overflow the part).

Pure functions, no database. Only texts holding a character that can join its neighbour (marks,
ZWJ, regional indicators, emoji modifiers, Hangul jamo, Prepend) go through the rules; in any other
text each code point is a cluster.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

# Grapheme_Cluster_Break values (and the three emoji ones of Unicode 10).
OTHER = 0
CR = 1
LF = 2
CONTROL = 3
EXTEND = 4
REGIONAL_INDICATOR = 5
SPACING_MARK = 6
L = 7
V = 8
T = 9
LV = 10
LVT = 11
PREPEND = 12
E_BASE = 13
E_MODIFIER = 14
ZWJ = 15
GLUE_AFTER_ZWJ = 16
E_BASE_GAZ = 17

# Hangul syllables U+AC00–U+D7A3: LV every 28th (no trailing consonant), LVT the others.
_HANGUL_FIRST, _HANGUL_LAST, _HANGUL_T_COUNT = 0xAC00, 0xD7A3, 28

# Code points (hex, "first-last" or one) of every value but OTHER, LV and LVT: the table of
# grapheme-splitter 1.0.4 (Unicode 10.0.0), transcribed as data.
_TABLE: dict[int, str] = {
    PREPEND: "0600-0605 06DD 070F 08E2 0D4E 110BD 111C2-111C3 11A3A 11A86-11A89 11D46",
    CR: "000D",
    LF: "000A",
    CONTROL: (
        "0000-0009 000B-000C 000E-001F 007F-009F 00AD 061C 180E 200B 200E-200F 2028-202E 2060-206F D800-DFFF "
        "FEFF FFF0-FFFB 1BCA0-1BCA3 1D173-1D17A E0000-E001F E0080-E00FF E01F0-E0FFF "
    ),
    EXTEND: (
        "0300-036F 0483-0489 0591-05BD 05BF 05C1-05C2 05C4-05C5 05C7 0610-061A 064B-065F 0670 06D6-06DC "
        "06DF-06E4 06E7-06E8 06EA-06ED 0711 0730-074A 07A6-07B0 07EB-07F3 0816-0819 081B-0823 0825-0827 "
        "0829-082D 0859-085B 08D4-08E1 08E3-0902 093A 093C 0941-0948 094D 0951-0957 0962-0963 0981 09BC 09BE "
        "09C1-09C4 09CD 09D7 09E2-09E3 0A01-0A02 0A3C 0A41-0A42 0A47-0A48 0A4B-0A4D 0A51 0A70-0A71 0A75 "
        "0A81-0A82 0ABC 0AC1-0AC5 0AC7-0AC8 0ACD 0AE2-0AE3 0AFA-0AFF 0B01 0B3C 0B3E-0B3F 0B41-0B44 0B4D "
        "0B56-0B57 0B62-0B63 0B82 0BBE 0BC0 0BCD 0BD7 0C00 0C3E-0C40 0C46-0C48 0C4A-0C4D 0C55-0C56 0C62-0C63 "
        "0C81 0CBC 0CBF 0CC2 0CC6 0CCC-0CCD 0CD5-0CD6 0CE2-0CE3 0D00-0D01 0D3B-0D3C 0D3E 0D41-0D44 0D4D 0D57 "
        "0D62-0D63 0DCA 0DCF 0DD2-0DD4 0DD6 0DDF 0E31 0E34-0E3A 0E47-0E4E 0EB1 0EB4-0EB9 0EBB-0EBC 0EC8-0ECD "
        "0F18-0F19 0F35 0F37 0F39 0F71-0F7E 0F80-0F84 0F86-0F87 0F8D-0F97 0F99-0FBC 0FC6 102D-1030 1032-1037 "
        "1039-103A 103D-103E 1058-1059 105E-1060 1071-1074 1082 1085-1086 108D 109D 135D-135F 1712-1714 "
        "1732-1734 1752-1753 1772-1773 17B4-17B5 17B7-17BD 17C6 17C9-17D3 17DD 180B-180D 1885-1886 18A9 "
        "1920-1922 1927-1928 1932 1939-193B 1A17-1A18 1A1B 1A56 1A58-1A5E 1A60 1A62 1A65-1A6C 1A73-1A7C 1A7F "
        "1AB0-1ABE 1B00-1B03 1B34 1B36-1B3A 1B3C 1B42 1B6B-1B73 1B80-1B81 1BA2-1BA5 1BA8-1BA9 1BAB-1BAD 1BE6 "
        "1BE8-1BE9 1BED 1BEF-1BF1 1C2C-1C33 1C36-1C37 1CD0-1CD2 1CD4-1CE0 1CE2-1CE8 1CED 1CF4 1CF8-1CF9 "
        "1DC0-1DF9 1DFB-1DFF 200C 20D0-20F0 2CEF-2CF1 2D7F 2DE0-2DFF 302A-302F 3099-309A A66F-A672 A674-A67D "
        "A69E-A69F A6F0-A6F1 A802 A806 A80B A825-A826 A8C4-A8C5 A8E0-A8F1 A926-A92D A947-A951 A980-A982 A9B3 "
        "A9B6-A9B9 A9BC A9E5 AA29-AA2E AA31-AA32 AA35-AA36 AA43 AA4C AA7C AAB0 AAB2-AAB4 AAB7-AAB8 AABE-AABF "
        "AAC1 AAEC-AAED AAF6 ABE5 ABE8 ABED FB1E FE00-FE0F FE20-FE2F FF9E-FF9F 101FD 102E0 10376-1037A "
        "10A01-10A03 10A05-10A06 10A0C-10A0F 10A38-10A3A 10A3F 10AE5-10AE6 11001 11038-11046 1107F-11081 "
        "110B3-110B6 110B9-110BA 11100-11102 11127-1112B 1112D-11134 11173 11180-11181 111B6-111BE "
        "111CA-111CC 1122F-11231 11234 11236-11237 1123E 112DF 112E3-112EA 11300-11301 1133C 1133E 11340 "
        "11357 11366-1136C 11370-11374 11438-1143F 11442-11444 11446 114B0 114B3-114B8 114BA 114BD "
        "114BF-114C0 114C2-114C3 115AF 115B2-115B5 115BC-115BD 115BF-115C0 115DC-115DD 11633-1163A 1163D "
        "1163F-11640 116AB 116AD 116B0-116B5 116B7 1171D-1171F 11722-11725 11727-1172B 11A01-11A06 "
        "11A09-11A0A 11A33-11A38 11A3B-11A3E 11A47 11A51-11A56 11A59-11A5B 11A8A-11A96 11A98-11A99 "
        "11C30-11C36 11C38-11C3D 11C3F 11C92-11CA7 11CAA-11CB0 11CB2-11CB3 11CB5-11CB6 11D31-11D36 11D3A "
        "11D3C-11D3D 11D3F-11D45 11D47 16AF0-16AF4 16B30-16B36 16F8F-16F92 1BC9D-1BC9E 1D165 1D167-1D169 "
        "1D16E-1D172 1D17B-1D182 1D185-1D18B 1D1AA-1D1AD 1D242-1D244 1DA00-1DA36 1DA3B-1DA6C 1DA75 1DA84 "
        "1DA9B-1DA9F 1DAA1-1DAAF 1E000-1E006 1E008-1E018 1E01B-1E021 1E023-1E024 1E026-1E02A 1E8D0-1E8D6 "
        "1E944-1E94A E0020-E007F E0100-E01EF "
    ),
    REGIONAL_INDICATOR: "1F1E6-1F1FF",
    SPACING_MARK: (
        "0903 093B 093E-0940 0949-094C 094E-094F 0982-0983 09BF-09C0 09C7-09C8 09CB-09CC 0A03 0A3E-0A40 0A83 "
        "0ABE-0AC0 0AC9 0ACB-0ACC 0B02-0B03 0B40 0B47-0B48 0B4B-0B4C 0BBF 0BC1-0BC2 0BC6-0BC8 0BCA-0BCC "
        "0C01-0C03 0C41-0C44 0C82-0C83 0CBE 0CC0-0CC1 0CC3-0CC4 0CC7-0CC8 0CCA-0CCB 0D02-0D03 0D3F-0D40 "
        "0D46-0D48 0D4A-0D4C 0D82-0D83 0DD0-0DD1 0DD8-0DDE 0DF2-0DF3 0E33 0EB3 0F3E-0F3F 0F7F 1031 103B-103C "
        "1056-1057 1084 17B6 17BE-17C5 17C7-17C8 1923-1926 1929-192B 1930-1931 1933-1938 1A19-1A1A 1A55 1A57 "
        "1A6D-1A72 1B04 1B35 1B3B 1B3D-1B41 1B43-1B44 1B82 1BA1 1BA6-1BA7 1BAA 1BE7 1BEA-1BEC 1BEE 1BF2-1BF3 "
        "1C24-1C2B 1C34-1C35 1CE1 1CF2-1CF3 1CF7 A823-A824 A827 A880-A881 A8B4-A8C3 A952-A953 A983 A9B4-A9B5 "
        "A9BA-A9BB A9BD-A9C0 AA2F-AA30 AA33-AA34 AA4D AAEB AAEE-AAEF AAF5 ABE3-ABE4 ABE6-ABE7 ABE9-ABEA ABEC "
        "11000 11002 11082 110B0-110B2 110B7-110B8 1112C 11182 111B3-111B5 111BF-111C0 1122C-1122E "
        "11232-11233 11235 112E0-112E2 11302-11303 1133F 11341-11344 11347-11348 1134B-1134D 11362-11363 "
        "11435-11437 11440-11441 11445 114B1-114B2 114B9 114BB-114BC 114BE 114C1 115B0-115B1 115B8-115BB "
        "115BE 11630-11632 1163B-1163C 1163E 116AC 116AE-116AF 116B6 11720-11721 11726 11A07-11A08 11A39 "
        "11A57-11A58 11A97 11C2F 11C3E 11CA9 11CB1 11CB4 16F51-16F7E 1D166 1D16D "
    ),
    L: "1100-115F A960-A97C",
    V: "1160-11A7 D7B0-D7C6",
    T: "11A8-11FF D7CB-D7FB",
    E_BASE: (
        "261D 26F9 270A-270D 1F385 1F3C2-1F3C4 1F3C7 1F3CA-1F3CC 1F442-1F443 1F446-1F450 1F46E 1F470-1F478 "
        "1F47C 1F481-1F483 1F485-1F487 1F4AA 1F574-1F575 1F57A 1F590 1F595-1F596 1F645-1F647 1F64B-1F64F "
        "1F6A3 1F6B4-1F6B6 1F6C0 1F6CC 1F918-1F91C 1F91E-1F91F 1F926 1F930-1F939 1F93D-1F93E 1F9D1-1F9DD "
    ),
    E_MODIFIER: "1F3FB-1F3FF",
    ZWJ: "200D",
    GLUE_AFTER_ZWJ: (
        "2640 2642 2695-2696 2708 2764 1F308 1F33E 1F373 1F393 1F3A4 1F3A8 1F3EB 1F3ED 1F48B 1F4BB-1F4BC "
        "1F527 1F52C 1F5E8 1F680 1F692 "
    ),
    E_BASE_GAZ: "1F466-1F469",
}


def _ranges() -> list[tuple[int, int, int]]:
    ranges = []
    for value, spans in _TABLE.items():
        for span in spans.split():
            first, _, last = span.partition("-")
            ranges.append((int(first, 16), int(last or first, 16), value))
    ranges.sort()
    return ranges


_RANGES = _ranges()
_STARTS = [first for first, _, _ in _RANGES]


def break_property(code_point: int) -> int:
    """The Grapheme_Cluster_Break value of a code point, as the splitter has it."""
    if _HANGUL_FIRST <= code_point <= _HANGUL_LAST:
        return LV if (code_point - _HANGUL_FIRST) % _HANGUL_T_COUNT == 0 else LVT
    at = bisect_right(_STARTS, code_point) - 1
    if at >= 0 and code_point <= _RANGES[at][1]:
        return _RANGES[at][2]
    return OTHER


class _ValueOf(dict[int, str]):
    """code point → chr(its value), filled as characters are met: `str.translate` with it turns a
    text into its values at C speed."""

    def __missing__(self, code_point: int) -> str:
        value = self[code_point] = chr(break_property(code_point))
        return value


_VALUE_OF = _ValueOf()


# A character of these values can be joined to its neighbour; between two characters of any other
# value (Other, CR, LF, Control, LV, LVT, E_Base, Glue_After_Zwj) there is always a break.
_JOINING = frozenset((EXTEND, ZWJ, SPACING_MARK, PREPEND, REGIONAL_INDICATOR, E_MODIFIER, L, V, T))
# Those of the Basic Multilingual Plane as one character class (a bitmap for the regex engine, so a
# scan costs a few ns a character); the few astral ones are looked up one by one.
_JOINING_BMP = re.compile(
    "["
    + "".join(
        re.escape(chr(first)) + "-" + re.escape(chr(last))
        for first, last, value in _RANGES
        if value in _JOINING and last < 0x10000
    )
    + "]"
)
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _joining_indices(text: str) -> list[int]:
    found = [match.start() for match in _JOINING_BMP.finditer(text)]
    if _ASTRAL.search(text) is not None:
        found.extend(m.start() for m in _ASTRAL.finditer(text) if break_property(ord(m.group())) in _JOINING)
        found.sort()
    return found


def _runs(text: str, joining: tuple[int, ...]) -> list[tuple[int, int]]:
    """(start, end) of each run: the characters around joining ones, where every neighbouring pair
    holds a joining character, with one character more on each side. Runs start and end at certain
    breaks, so the rules can be applied to each run alone."""
    runs: list[tuple[int, int]] = []
    first = previous = joining[0]
    for at in joining[1:]:
        if at - previous > 2:  # two characters without a joining one between: a certain break
            runs.append((max(first - 1, 0), previous + 2))
            first = at
        previous = at
    runs.append((max(first - 1, 0), min(previous + 2, len(text))))
    return runs


_BASES = (E_BASE, E_BASE_GAZ)


def _breaks(cluster: list[int], after: int) -> bool:
    """Whether a cluster (the values of its characters so far) ends before a character of value
    `after`: UAX #29 of Unicode 10, rule numbers as there, read as grapheme-splitter reads them."""
    first, last = cluster[0], cluster[-1]
    # The splitter's two look-aheads, which only a modifier or an indicator can set off.
    if after in (E_MODIFIER, REGIONAL_INDICATOR) or E_MODIFIER in cluster or REGIONAL_INDICATOR in cluster:
        sequence = [*cluster, after]
        # GB10's end: the last emoji modifier, if it comes after the second character with only
        # Extends before it (from the second on), ends the cluster unless the first is a base or
        # an Extend.
        modifier = _last_index(sequence, E_MODIFIER)
        if modifier > 1 and first not in (EXTEND, *_BASES) and all(v == EXTEND for v in sequence[1:modifier]):
            return True
        # GB12/13's end: the last regional indicator, after the first character with only
        # indicators before it, ends the cluster unless the character before `after` is an
        # indicator or a Prepend.
        indicator = _last_index(sequence, REGIONAL_INDICATOR)
        if (
            indicator > 0
            and last not in (PREPEND, REGIONAL_INDICATOR)
            and all(v == REGIONAL_INDICATOR for v in sequence[1:indicator])
        ):
            return True
    if last in (CR, LF, CONTROL) or after in (CR, LF, CONTROL):  # GB4, GB5 ("\\r\\n" too: see above)
        return True
    if last == L and after in (L, V, LV, LVT):  # GB6
        return False
    if last in (LV, V) and after in (V, T):  # GB7
        return False
    if last in (LVT, T) and after == T:  # GB8
        return False
    if after in (EXTEND, ZWJ, SPACING_MARK):  # GB9, GB9a
        return False
    if last == PREPEND:  # GB9b
        return False
    if after == E_MODIFIER:  # GB10: the base is looked for just before the cluster's last Extend
        extend = _last_index(cluster, EXTEND)
        base = extend - 1 if extend >= 0 else len(cluster) - 1
        if base >= 0 and cluster[base] in _BASES and all(value == EXTEND for value in cluster[base + 1 :]):
            return False
    if last == ZWJ and after in (GLUE_AFTER_ZWJ, E_BASE_GAZ):  # GB11
        return False
    if REGIONAL_INDICATOR in cluster[1:]:  # GB12/13: an indicator pair is complete
        return True
    return not (last == REGIONAL_INDICATOR and after == REGIONAL_INDICATOR)  # GB12/13, else GB999


def _last_index(values: list[int], wanted: int) -> int:
    for at in range(len(values) - 1, -1, -1):
        if values[at] == wanted:
            return at
    return -1


_LOOKAHEAD = frozenset((E_MODIFIER, REGIONAL_INDICATOR))
# Without a modifier or an indicator in the cluster or after it, `_breaks` reads only the pair
# (the cluster's last value, the next one): the table of those answers.
_PAIR_BREAKS = [[_breaks([last], after) for after in range(E_BASE_GAZ + 1)] for last in range(E_BASE_GAZ + 1)]


def joined_positions(text: str) -> frozenset[int]:
    """Indices i (0 < i < len(text)) where text[i] continues the cluster of text[i - 1]: a part may
    not start there. Empty, after a regex scan or two, for text where every code point is a cluster."""
    joining = _joining_indices(text)
    if not joining:
        return frozenset()
    return _joined(text, tuple(joining))


@lru_cache(maxsize=1024)
def _joined(text: str, joining: tuple[int, ...]) -> frozenset[int]:
    joined = []
    for start, end in _runs(text, joining):
        values = text[start:end].translate(_VALUE_OF).encode("latin-1")
        cluster = [values[0]]
        special = values[0] in _LOOKAHEAD
        for offset in range(1, len(values)):
            after = values[offset]
            # Without a modifier or an indicator about, the pair alone decides.
            lookahead = special or after in _LOOKAHEAD
            if _breaks(cluster, after) if lookahead else _PAIR_BREAKS[cluster[-1]][after]:
                cluster = [after]
                special = after in _LOOKAHEAD
            else:
                cluster.append(after)
                special = special or after in _LOOKAHEAD
                joined.append(start + offset)
    return frozenset(joined)


def clusters(text: str) -> list[str]:
    """`text` cut into grapheme clusters, as Twilio's calculator cuts it."""
    joined = joined_positions(text)
    pieces: list[str] = []
    start = 0
    for at in range(1, len(text) + 1):
        if at == len(text) or at not in joined:
            pieces.append(text[start:at])
            start = at
    return pieces
