"""Phone numbers and URNs: the one place Herald parses them. Pure (no database) and fast.

`parse_phone(value, default_region)` answers the E.164 form (`+256772123456`) or raises `PhoneError`
with a machine `code` and a human `message`. `parse_urn(value, default_region)` answers `Urn(scheme,
path)` for `tel:+256…`, `whatsapp:+256…`, `telegram:123456789` or a bare phone.

Speed: `phonenumbers.parse` costs ~30 µs a number, too slow for a 1,000,000-row import or 10,000
recipients per request. Most input is plain digits (E.164, or national with the client's country), so
a fast path splits the digits itself and checks them against the same `phonenumbers` metadata with
the library's own rules (national-prefix stripping, region choice for shared country codes, number
types); anything it is not sure about goes through `phonenumbers.parse`. A property test checks that
both paths agree (tests/contacts/test_phones.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberDesc, ValidationResult

TOO_SHORT: Final = "too_short"
TOO_LONG: Final = "too_long"
NOT_A_NUMBER: Final = "not_a_number"
UNKNOWN_COUNTRY_CODE: Final = "unknown_country_code"
INVALID_NUMBER: Final = "invalid_number"
INVALID_URN: Final = "invalid_urn"

TEL: Final = "tel"
WHATSAPP: Final = "whatsapp"
TELEGRAM: Final = "telegram"
PHONE_SCHEMES: Final = frozenset({TEL, WHATSAPP})
SCHEMES: Final = (TEL, WHATSAPP, TELEGRAM)

MAX_INPUT_LENGTH: Final = 64
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' bounds on a national significant number
_NON_GEO: Final = "001"


class AddressError(ValueError):
    """A phone number or URN that cannot be used; `code` is machine-readable, `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PhoneError(AddressError):
    pass


class UrnError(AddressError):
    pass


class Urn(NamedTuple):
    scheme: str
    path: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.path}"

    @property
    def phone(self) -> str | None:
        """The E.164 number for tel: and whatsapp: URNs."""
        return self.path if self.scheme in PHONE_SCHEMES else None


# --- the fast path ------------------------------------------------------------------------------

_FAST_INPUT = re.compile(r"\+?[0-9(][0-9 ().\-]*[0-9]")
_PUNCTUATION = str.maketrans("", "", " ().-")


@dataclass(frozen=True, slots=True)
class _Rules:
    """One region's validity rules, compiled: exactly phonenumbers' `_number_type_helper != UNKNOWN`."""

    general_lengths: frozenset[int]
    local_lengths: frozenset[int]
    general: re.Pattern[str] | None
    types_by_length: dict[int, re.Pattern[str]]
    leading_digits: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    has_transform_rule: bool
    international_prefix: re.Pattern[str] | None
    country_code: int

    def is_valid(self, nsn: str) -> bool:
        if self.general is None or (self.general_lengths and len(nsn) not in self.general_lengths):
            return False
        if self.general.fullmatch(nsn) is None:
            return False
        pattern = self.types_by_length.get(len(nsn))
        return pattern is not None and pattern.fullmatch(nsn) is not None

    def matches_general(self, nsn: str) -> bool:
        return self.general is not None and self.general.fullmatch(nsn) is not None


_TYPE_DESCS = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


def _lengths(desc: PhoneNumberDesc | None) -> frozenset[int]:
    return frozenset(n for n in (desc.possible_length if desc else ()) if n > 0)


@lru_cache(maxsize=512)
def _rules(region: str, country_code: int) -> _Rules | None:
    if region == _NON_GEO:
        return None  # non-geographic numbers (+800, +882, …) always take the slow path
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:
        return None
    general = metadata.general_desc
    types_by_length: dict[int, re.Pattern[str]] = {}
    descs = [getattr(metadata, name) for name in _TYPE_DESCS]
    descs = [d for d in descs if d is not None and d.national_number_pattern]
    for length in range(1, _MAX_NSN + 1):
        patterns = [d.national_number_pattern for d in descs if not _lengths(d) or length in _lengths(d)]
        if patterns:
            types_by_length[length] = re.compile("|".join(f"(?:{p})" for p in patterns))
    npp = metadata.national_prefix_for_parsing
    return _Rules(
        general_lengths=_lengths(general),
        local_lengths=frozenset(n for n in (general.possible_length_local_only if general else ()) if n > 0),
        general=re.compile(general.national_number_pattern) if general and general.national_number_pattern else None,
        types_by_length=types_by_length,
        leading_digits=re.compile(metadata.leading_digits) if metadata.leading_digits else None,
        national_prefix=re.compile(npp) if npp else None,
        has_transform_rule=bool(metadata.national_prefix_transform_rule),
        international_prefix=re.compile(metadata.international_prefix) if metadata.international_prefix else None,
        country_code=country_code,
    )


@lru_cache(maxsize=512)
def _main_region(country_code: int) -> str | None:
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    return regions[0] if regions else None


def _is_valid(country_code: int, nsn: str) -> bool | None:
    """phonenumbers.is_valid_number for (country_code, nsn); None when the fast path cannot tell."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None
    chosen: _Rules | None = None
    for region in regions:  # phonenumbers' _region_code_for_number_from_list, same order
        rules = _rules(region, country_code)
        if rules is None:
            return None
        if len(regions) == 1:
            chosen = rules
            break
        if rules.leading_digits is not None:
            if rules.leading_digits.match(nsn):
                chosen = rules
                break
        elif rules.is_valid(nsn):
            chosen = rules
            break
    return chosen is not None and chosen.is_valid(nsn)


def _strip_national_prefix(nsn: str, rules: _Rules) -> str | None:
    """phonenumbers' national-prefix step; None when it needs the slow path (transform rules)."""
    if rules.national_prefix is None:
        return nsn
    match = rules.national_prefix.match(nsn)
    if match is None:
        return nsn
    if rules.has_transform_rule:
        return None
    stripped = nsn[match.end() :]
    if rules.matches_general(nsn) and not rules.matches_general(stripped):
        return nsn
    return stripped


def _fast_parse(value: str, region: str | None) -> str | None:
    if not _FAST_INPUT.fullmatch(value):
        return None
    digits = value.translate(_PUNCTUATION)
    if len(digits) < 4:  # with "+", a country code and two digits at least
        return None
    if value[0] == "+":
        digits = digits[1:]
        if digits[0] == "0":
            return None
        for size in (1, 2, 3):
            country_code = int(digits[:size])
            if country_code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        nsn = digits[size:]
        main = _main_region(country_code)
        rules = _rules(main, country_code) if main else None
    else:
        if region is None:
            return None
        rules = _rules(region, phonenumbers.country_code_for_region(region))
        if rules is None:
            return None
        if rules.international_prefix is not None and rules.international_prefix.match(digits):
            return None  # an IDD ("00", "011", …): let phonenumbers read the country code
        if digits.startswith(str(rules.country_code)):
            return None  # maybe a country code written without "+"
        country_code, nsn = rules.country_code, digits
    if rules is None or len(nsn) < _MIN_NSN:
        return None
    candidate = _strip_national_prefix(nsn, rules)
    if candidate is None or not _MIN_NSN <= len(candidate) <= _MAX_NSN:
        return None
    if candidate != nsn and len(candidate) in rules.local_lengths:
        return None  # phonenumbers would keep the prefix here
    if not _is_valid(country_code, candidate):
        return None  # invalid or unsure: the slow path decides, and says why
    return f"+{country_code}{candidate}"


# --- the slow path: phonenumbers itself, with reasons ---------------------------------------------


@lru_cache(maxsize=512)
def region_name(region: str | None) -> str:
    if not region:
        return "its country"
    import pycountry

    country = pycountry.countries.get(alpha_2=region)
    return getattr(country, "common_name", None) or (country.name if country else region)


def _slow_parse(value: str, region: str | None) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException as exc:
        kind = exc.error_type
        if kind == NumberParseException.INVALID_COUNTRY_CODE:
            if value.startswith("+") or region:
                raise PhoneError(UNKNOWN_COUNTRY_CODE, "The country code is not known.") from None
            raise PhoneError(
                UNKNOWN_COUNTRY_CODE, "There is no country code: write the number as +<country code><number>."
            ) from None
        if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
            raise PhoneError(TOO_SHORT, "Too short to be a phone number.") from None
        if kind == NumberParseException.TOO_LONG:
            raise PhoneError(TOO_LONG, "Too long to be a phone number.") from None
        raise PhoneError(NOT_A_NUMBER, "Not a phone number.") from None
    if phonenumbers.is_valid_number(number):
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    where = region_name(phonenumbers.region_code_for_country_code(number.country_code or 0))
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.TOO_SHORT:
        raise PhoneError(TOO_SHORT, f"Too short for a phone number in {where}.")
    if reason == ValidationResult.TOO_LONG:
        raise PhoneError(TOO_LONG, f"Too long for a phone number in {where}.")
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        raise PhoneError(UNKNOWN_COUNTRY_CODE, "The country code is not known.")
    if reason == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        raise PhoneError(TOO_SHORT, f"Looks like a local number in {where}: add the area code.")
    if reason == ValidationResult.INVALID_LENGTH:
        raise PhoneError(INVALID_NUMBER, f"No phone number in {where} has this many digits.")
    raise PhoneError(INVALID_NUMBER, f"Not a valid phone number in {where}.")


# --- public API ------------------------------------------------------------------------------------


def normalize_region(region: str | None) -> str | None:
    code = (region or "").strip().upper()
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def parse_phone(value: object, default_region: str | None = None) -> str:
    """`value` in E.164 (`+256772123456`), or PhoneError(code, message).

    A number without a country code is read as national in `default_region` (ISO 3166-1 alpha-2,
    usually the client's country). Letters (vanity numbers, extensions) are refused.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise PhoneError(NOT_A_NUMBER, "A phone number must be a string.")
    value = value.strip()
    if not value:
        raise PhoneError(NOT_A_NUMBER, "The phone number is empty.")
    if len(value) > MAX_INPUT_LENGTH:
        raise PhoneError(TOO_LONG, "Too long to be a phone number.")
    region = normalize_region(default_region)
    fast = _fast_parse(value, region)
    if fast is not None:
        return fast
    if any(ch.isalpha() for ch in value):
        raise PhoneError(NOT_A_NUMBER, "Not a phone number: it contains letters.")
    return _slow_parse(value, region)


_TELEGRAM_ID = re.compile(r"-?[1-9][0-9]{0,18}")


def parse_telegram_chat_id(value: object) -> str:
    """A Telegram chat id as a string of digits (negative for groups), or UrnError."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise UrnError(INVALID_URN, "A Telegram chat id must be a whole number.")
    value = value.strip()
    if value[:9].lower() == "telegram:":
        value = value[9:].strip()
    if not _TELEGRAM_ID.fullmatch(value):
        raise UrnError(INVALID_URN, "A Telegram chat id is a whole number, e.g. 123456789.")
    return value


def parse_urn(value: object, default_region: str | None = None) -> Urn:
    """`tel:+256…`, `whatsapp:+256…`, `telegram:123456789`, or a bare phone (read as `tel:`)."""
    if not isinstance(value, str):
        if isinstance(value, int) and not isinstance(value, bool):
            return Urn(TEL, parse_phone(value, default_region))
        raise UrnError(INVALID_URN, "A recipient must be a phone number or a URN string.")
    text = value.strip()
    scheme, sep, path = text.partition(":")
    if not sep:
        return Urn(TEL, parse_phone(text, default_region))
    scheme = scheme.strip().lower()
    if scheme in PHONE_SCHEMES:
        return Urn(scheme, parse_phone(path, default_region))
    if scheme == TELEGRAM:
        return Urn(TELEGRAM, parse_telegram_chat_id(path))
    raise UrnError(INVALID_URN, f"Unknown URN scheme '{scheme[:20]}': use tel:, whatsapp: or telegram:.")
