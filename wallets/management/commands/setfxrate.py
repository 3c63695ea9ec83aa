"""setfxrate FROM TO RATE: 1 FROM = RATE TO; prints the rate last."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.exceptions import describe_validation_error
from wallets.price_services import exchange_rate_set


class Command(BaseCommand):
    help = "Set an exchange rate: 1 FROM = RATE TO (e.g. setfxrate UGX USD 0.000268571); prints the rate."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("from_currency", metavar="FROM")
        parser.add_argument("to_currency", metavar="TO")
        parser.add_argument("rate", metavar="RATE")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            fx = exchange_rate_set(
                from_currency=options["from_currency"], to_currency=options["to_currency"], rate=options["rate"]
            )
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from None
        rate = f"{fx.rate.normalize():f}"
        self.stderr.write(f"1 {fx.from_currency} = {rate} {fx.to_currency}")
        self.stdout.write(rate)
