"""The fast region lookup answers what phonenumbers answers, for canonical E.164 numbers."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from wallets.numbering import calling_code, region_for_digits

SHARED_CODES = [1, 7, 39, 44, 47, 61, 212, 262, 290, 358, 590, 599]


def expected_region(number: phonenumbers.PhoneNumber) -> str | None:
    region = phonenumbers.region_code_for_number(number)
    return None if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY else region


def test_every_example_number_of_every_region_and_type():
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for number_type in PhoneNumberType.values():
            example = phonenumbers.example_number_for_type(region, number_type)
            if example is None:
                continue
            digits = phonenumbers.format_number(example, PhoneNumberFormat.E164)[1:]
            assert region_for_digits(digits) == expected_region(example), (region, number_type)
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("seed", range(3))
def test_random_numbers_of_shared_calling_codes(seed):
    rnd = random.Random(seed)
    for _ in range(3000):
        code = rnd.choice(SHARED_CODES)
        raw = f"+{code}" + "".join(rnd.choice("0123456789") for _ in range(rnd.randint(6, 11)))
        number = phonenumbers.parse(raw)
        digits = phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:]
        assert region_for_digits(digits) == expected_region(number), digits


@pytest.mark.parametrize(
    ("digits", "region"),
    [
        ("256772123456", "UG"),
        ("254712345678", "KE"),
        ("33612345678", "FR"),
        ("12025550173", "US"),
        ("14162345678", "CA"),
        ("18762101234", "JM"),
        ("447781123456", "GG"),
        ("447400123456", "GB"),
        ("447700900123", None),  # Ofcom's range for drama: of no region
        ("77012345678", "KZ"),
        ("79123456789", "RU"),
        ("80012345678", None),  # +800: international freephone, no country
        ("999123", None),  # no such calling code
    ],
)
def test_known_numbers(digits, region):
    assert region_for_digits(digits) == region


def test_calling_code():
    assert [calling_code(d) for d in ("256772", "1201", "447", "999", "")] == [256, 1, 44, None, None]
