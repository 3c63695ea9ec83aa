"""contacts.phones: E.164 as given, national with the client's country, a reason for every refusal."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contacts import phones
from contacts.phones import PhoneError, Urn, UrnError, parse_phone, parse_telegram_chat_id, parse_urn


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("+256772123456", None, "+256772123456"),
        ("+256772123456", "FR", "+256772123456"),  # E.164 ignores the default country
        ("+256 772 123 456", None, "+256772123456"),
        ("+256 (772) 123-456", None, "+256772123456"),
        ("0772 123456", "UG", "+256772123456"),
        ("0772-123-456", "ug", "+256772123456"),
        ("772123456", "UG", "+256772123456"),
        ("256772123456", "UG", "+256772123456"),  # country code without "+"
        ("0712 000 101", "KE", "+254712000101"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "UG", "+33612345678"),
        ("(202) 555-0123", "US", "+12025550123"),
        ("+1 202 555 0123", None, "+12025550123"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("+39 06 1234 5678", None, "+390612345678"),  # Italy keeps its leading zero
        ("٠٧٧٢١٢٣٤٥٦", "UG", "+256772123456"),  # Arabic-Indic digits
        ("  +256772123456\n", None, "+256772123456"),
        (256772123456, "UG", "+256772123456"),
    ],
)
def test_valid_numbers_come_back_in_e164(value, region, expected):
    assert parse_phone(value, region) == expected


@pytest.mark.parametrize(
    ("value", "region", "code", "reason"),
    [
        ("+2567721", None, "too_short", "Too short for a phone number in Uganda."),
        ("12", "UG", "too_short", "Too short for a phone number in Uganda."),
        ("+1 201 1234", None, "too_short", "Looks like a local number in United States: add the area code."),
        ("+25677212345678", None, "too_long", "Too long for a phone number in Uganda."),
        ("+256 7721234567", None, "too_long", "Too long for a phone number in Uganda."),
        ("+2567" + "1" * 70, None, "too_long", "Too long to be a phone number."),
        ("hello", "UG", "not_a_number", "Not a phone number: it contains letters."),
        ("+256772123456 ext 12", None, "not_a_number", "Not a phone number: it contains letters."),
        ("1-800-FLOWERS", "US", "not_a_number", "Not a phone number: it contains letters."),
        ("", "UG", "not_a_number", "The phone number is empty."),
        ("   ", "UG", "not_a_number", "The phone number is empty."),
        ("---", "UG", "not_a_number", "Not a phone number."),
        (None, "UG", "not_a_number", "A phone number must be a string."),
        ("+999 1234567", None, "unknown_country_code", "The country code is not known."),
        (
            "0772123456",
            None,
            "unknown_country_code",
            "There is no country code: write the number as +<country code><number>.",
        ),
        ("+33 1 23 45 67 8", None, "too_short", "Too short for a phone number in France."),
        ("+256 100 123456", None, "invalid_number", "Not a valid phone number in Uganda."),
        ("+256 612 345 678", None, "invalid_number", "Not a valid phone number in Uganda."),
        ("0300 000 000", "KE", "invalid_number", "Not a valid phone number in Kenya."),
        ("+47 222222", None, "invalid_number", "No phone number in Norway has this many digits."),
    ],
)
def test_invalid_numbers_are_refused_with_a_code_and_a_reason(value, region, code, reason):
    with pytest.raises(PhoneError) as caught:
        parse_phone(value, region)
    assert caught.value.code == code
    assert caught.value.message == reason
    assert str(caught.value) == reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tel:+256772123456", Urn("tel", "+256772123456")),
        ("TEL:0772123456", Urn("tel", "+256772123456")),
        ("whatsapp:+256 772 123456", Urn("whatsapp", "+256772123456")),
        ("telegram:123456789", Urn("telegram", "123456789")),
        ("telegram:-1001234567890", Urn("telegram", "-1001234567890")),
        ("0772123456", Urn("tel", "+256772123456")),  # a bare string is a phone
        (256772123456, Urn("tel", "+256772123456")),
    ],
)
def test_urns_are_parsed_in_one_place(value, expected):
    urn = parse_urn(value, "UG")
    assert urn == expected
    assert str(urn) == f"{expected.scheme}:{expected.path}"


def test_an_urn_knows_its_phone():
    assert parse_urn("whatsapp:+256772123456").phone == "+256772123456"
    assert parse_urn("telegram:42").phone is None


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("mailto:someone@example.com", "invalid_urn"),
        ("telegram:abc", "invalid_urn"),
        ("telegram:", "invalid_urn"),
        ("telegram:0123", "invalid_urn"),
        ("tel:+999123", "unknown_country_code"),
        ("whatsapp:12", "too_short"),
        (["+256772123456"], "invalid_urn"),
        (True, "invalid_urn"),
    ],
)
def test_bad_urns_are_refused(value, code):
    with pytest.raises(phones.AddressError) as caught:
        parse_urn(value, "UG")
    assert caught.value.code == code
    assert caught.value.message


def test_unknown_scheme_names_the_schemes_to_use():
    with pytest.raises(UrnError, match=r"Unknown URN scheme 'sms': use tel:, whatsapp: or telegram:\."):
        parse_urn("sms:+256772123456")


@pytest.mark.parametrize(("value", "expected"), [("123456789", "123456789"), (42, "42"), ("telegram:7", "7")])
def test_telegram_chat_ids(value, expected):
    assert parse_telegram_chat_id(value) == expected


def test_a_bad_default_region_is_like_none():
    assert parse_phone("+256772123456", "XX") == "+256772123456"
    with pytest.raises(PhoneError) as caught:
        parse_phone("0772123456", "XX")
    assert caught.value.code == "unknown_country_code"


# --- the fast path must agree with phonenumbers -------------------------------------------------


def _reference(value: str, region: str | None) -> str | None:
    """phonenumbers alone: E.164 when valid, else None."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ours(value: str, region: str | None) -> str | None:
    try:
        return parse_phone(value, region)
    except PhoneError:
        return None


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@settings(max_examples=3000, deadline=None)
@given(
    country_code=st.sampled_from(COUNTRY_CODES),
    digits=st.text(alphabet="0123456789", min_size=2, max_size=14),
    region=st.sampled_from([None, *REGIONS]),
)
def test_international_numbers_agree_with_phonenumbers(country_code, digits, region):
    value = f"+{country_code}{digits}"
    assert _ours(value, region) == _reference(value, region)


@settings(max_examples=3000, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    digits=st.text(alphabet="0123456789", min_size=3, max_size=14),
    separator=st.sampled_from(["", " ", "-", "."]),
)
def test_national_numbers_agree_with_phonenumbers(region, digits, separator):
    value = separator.join([digits[:3], digits[3:]]) if separator and len(digits) > 3 else digits
    assert _ours(value, region) == _reference(value, region)


@pytest.mark.parametrize("region", REGIONS)
def test_every_region_example_number_is_accepted_in_both_forms(region):
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
        assert _ours(e164, None) == _reference(e164, None)
        assert _ours(national, region) == _reference(national, region)


def test_the_fast_path_takes_the_common_inputs():
    """Plain E.164 and plain national numbers never reach phonenumbers.parse (that is the speed)."""
    for value, region in [("+256772123456", None), ("0772 123 456", "UG"), ("+1 202 555 0123", None)]:
        assert phones._fast_parse(value, region) is not None
