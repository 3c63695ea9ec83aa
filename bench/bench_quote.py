"""Quote 100,000 recipients across 5 countries (SPEC: ≤ 1 s), beside phonenumbers parsing the same numbers.

    .venv/bin/python bench/bench_quote.py           # pure quote engine, in-memory routes
    .venv/bin/python bench/bench_quote.py --db      # also through quote_for_wallet on a fresh database
    .venv/bin/python bench/bench_quote.py --quick   # CI: 2,000 numbers a country, the budget not enforced

Numbers: 20,000 valid mobile numbers each for UG, KE, NG, FR and US (valid per phonenumbers), 1–3
SMS parts each, priced on the demo routes plus a few prefix routes. The quote is timed with a cold
number cache (as for a first precheck) and warm (the send after its precheck). The baseline is what
any per-number use of phonenumbers would cost: `phonenumbers.parse` of each number. The bench exits
non-zero when the quote misses a number, when no time was measured, and in a full run over budget.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from decimal import Decimal

from common import Verdict, bench_database, quick_option, report, require, timed

COUNTRIES = ("UG", "KE", "NG", "FR", "US")
PER_COUNTRY = 20_000
QUICK_PER_COUNTRY = 2_000
BUDGET_SECONDS = 1.0


def make_numbers(rnd: random.Random, per_country: int = PER_COUNTRY) -> list[str]:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    numbers: list[str] = []
    for region in COUNTRIES:
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
        e164 = phonenumbers.format_number(example, PhoneNumberFormat.E164)
        keep = len(e164) - 6
        made: set[str] = set()
        while len(made) < per_country:
            if region == "US":
                candidate = f"+1{rnd.randint(201, 989)}{rnd.randint(200, 999)}{rnd.randint(0, 9999):04d}"
            else:
                candidate = e164[:keep] + f"{rnd.randint(0, 999_999):06d}"
            parsed = phonenumbers.parse(candidate)
            if phonenumbers.is_valid_number(parsed) and phonenumbers.region_code_for_number(parsed) == region:
                made.add(candidate)
        numbers += sorted(made)
    rnd.shuffle(numbers)
    return numbers


def in_memory_routes() -> tuple[list, dict]:
    from wallets.demo import RATES_TO, demo_routes
    from wallets.pricing import PriceRoute

    routes = []
    for index, (key, values) in enumerate(demo_routes(), start=1):
        routes.append(
            PriceRoute(
                route_id=index,
                channel=key["channel"],
                tier=key["tier"],
                country_code=key["country_code"],
                prefix=key["prefix"],
                route_code=key["route_code"],
                connector=values["connector"],
                currency=values["currency"],
                price_per_segment=values["price_per_segment"],
            )
        )
    extra = [("UG", "25677", "MTN_UG", "UGX", "32"), ("UG", "256701", "AIRTEL_UG", "UGX", "30"),
             ("KE", "25471", "SAF_KE", "KES", "1.1"), ("NG", "234803", "MTN_NG", "NGN", "6.0")]  # fmt: skip
    for offset, (country, prefix, code, currency, price) in enumerate(extra, start=len(routes) + 1):
        routes.append(
            PriceRoute(offset, "sms", "premium", country, prefix, code, "simulator", currency, Decimal(price))
        )
    rates = {(source, target): Decimal(rate) for target, pairs in RATES_TO.items() for source, rate in pairs.items()}
    return routes, rates


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", action="store_true", help="also through quote_for_wallet on a fresh database")
    quick_option(parser)
    args = parser.parse_args()
    verdict = Verdict("quote", quick=args.quick)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    import phonenumbers

    from wallets.numbering import region_for_digits
    from wallets.pricing import quote_messages

    rnd = random.Random(42)
    numbers = make_numbers(rnd, QUICK_PER_COUNTRY if args.quick else PER_COUNTRY)
    recipients = [(number, rnd.randint(1, 3)) for number in numbers]
    routes, rates = in_memory_routes()

    def quote_cold():
        region_for_digits.cache_clear()
        return quote_messages(recipients=recipients, channel="sms", wallet_currency="USD", routes=routes, rates=rates)

    def quote_warm():
        return quote_messages(recipients=recipients, channel="sms", wallet_currency="USD", routes=routes, rates=rates)

    def parse_all():
        for number in numbers:
            phonenumbers.parse(number)

    cold, quote = timed(quote_cold, repeat=3)
    warm, _ = timed(quote_warm, repeat=3)
    baseline, _ = timed(parse_all, repeat=1)
    require(
        quote.total_contacts == len(numbers),
        f"quoted {quote.total_contacts} of {len(numbers)}: {quote.unroutable_reasons}",
    )
    cold = verdict.seconds(cold, "the cold quote")
    verdict.seconds(baseline, "phonenumbers' parse")
    verdict.target(cold <= BUDGET_SECONDS, f"the cold quote took {cold:.3f} s > {BUDGET_SECONDS} s")
    report(
        "quote_100k_5_countries",
        mode=verdict.mode,
        recipients=len(numbers),
        countries=quote.countries,
        segments=quote.total_segments,
        total_cost=f"{quote.total_cost} USD",
        quote_cold_s=f"{cold:.3f}",
        quote_warm_s=f"{warm:.3f}",
        phonenumbers_parse_s=f"{baseline:.3f}",
        ratio_cold_vs_parse=f"{cold / baseline:.2f}",
        budget_s=BUDGET_SECONDS,
        within_budget="yes" if cold <= BUDGET_SECONDS else "NO",
    )

    if args.db:
        with bench_database():
            from tests.factories.wallets import make_wallet
            from wallets.demo import seed_demo_routes
            from wallets.selectors import quote_for_wallet

            seed_demo_routes()
            wallet = make_wallet()  # the quote only reads its currency

            def quote_db():
                region_for_digits.cache_clear()
                return quote_for_wallet(wallet=wallet, recipients=recipients, channel="sms")

            db_time, db_quote = timed(quote_db, repeat=3)
            require(db_quote.total_contacts == len(numbers), f"quoted {db_quote.total_contacts} of {len(numbers)}")
            report("quote_for_wallet_100k_db", quote_s=f"{db_time:.3f}", ratio_vs_parse=f"{db_time / baseline:.2f}")
    verdict.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
