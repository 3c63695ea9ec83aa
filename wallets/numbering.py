"""Which country an E.164 number belongs to, without parsing it with phonenumbers each time.

`phonenumbers.parse` + `region_code_for_number` costs 25–70 µs a number: 100,000 recipients would
take seconds. This module gives the same answer from phonenumbers' own metadata in 1–8 µs:

- the calling code is the one of 1–3 leading digits that phonenumbers knows (calling codes are
  prefix-free, so at most one matches);
- a calling code used by one region (256 → UG) answers that region, exactly as phonenumbers does;
- a shared calling code (1, 7, 44, …) follows phonenumbers' own rule (`_region_code_for_number_from_list`),
  in its order of regions: a region whose leading-digits pattern matches the national number, else
  the first region for which the number has a known type (fixed line, mobile, toll free, …), with
  the same patterns and possible lengths, precompiled once per region.

For a number in canonical E.164 (as phonenumbers formats it) the answer is exactly
`phonenumbers.region_code_for_number` (tests compare them on random numbers of the shared codes),
except that non-geographic numbers (+800, +882, …) answer None rather than "001".

Results are cached per number (bounded), so a number repeated across a precheck and a send is free.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

_Desc = tuple[frozenset[int], re.Pattern[str]]
_Matcher = tuple[str, re.Pattern[str] | None, _Desc | None, tuple[_Desc, ...]]
_SHARED: dict[int, list[_Matcher]] = {}
# Every type phonenumbers knows; a number of any of them is "of" the region (its type is not UNKNOWN).
_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def calling_code(digits: str) -> int | None:
    """The country calling code that `digits` (E.164 without '+') starts with, if any."""
    for length in (1, 2, 3):
        code = int(digits[:length]) if len(digits) >= length else -1
        if code in COUNTRY_CODE_TO_REGION_CODE:
            return code
    return None


def _desc(desc: object) -> _Desc | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if not pattern:
        return None
    return frozenset(getattr(desc, "possible_length", None) or ()), re.compile(pattern)


def _fits(national: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _matchers(code: int) -> list[_Matcher]:
    matchers = _SHARED.get(code)
    if matchers is None:
        matchers = []
        for region in COUNTRY_CODE_TO_REGION_CODE[code]:
            metadata = PhoneMetadata.metadata_for_region(region, None)
            if metadata is None:
                continue
            leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None
            types = tuple(d for d in (_desc(getattr(metadata, name, None)) for name in _TYPES) if d is not None)
            matchers.append((region, leading, _desc(metadata.general_desc), types))
        _SHARED[code] = matchers
    return matchers


@lru_cache(maxsize=1 << 17)
def region_for_digits(digits: str) -> str | None:
    """ISO 3166-1 alpha-2 region of an E.164 number given as its digits, or None if none fits."""
    code = calling_code(digits)
    if code is None:
        return None
    regions = COUNTRY_CODE_TO_REGION_CODE[code]
    if len(regions) == 1:
        region = regions[0]
        return None if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else region
    national = digits[len(str(code)) :]
    for region, leading, general, types in _matchers(code):
        if leading is not None:
            if leading.match(national):
                return region
        elif general is not None and _fits(national, general) and any(_fits(national, t) for t in types):
            return region
    return None
