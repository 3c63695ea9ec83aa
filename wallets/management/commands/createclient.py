"""createclient lives in wallets, not accounts: a tenant is created together with its wallet, and
wallets may call accounts but not the other way round."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.exceptions import describe_validation_error
from accounts.services import client_create
from wallets.services import parse_amount, wallet_create, wallet_topup


class Command(BaseCommand):
    help = "Create a client (tenant) and its wallet; prints the client's id last."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--currency", default="USD")
        parser.add_argument("--balance", default="0", help="Opening balance, credited as a top-up")
        parser.add_argument("--billing", default="prepaid", choices=["prepaid", "postpaid"])
        parser.add_argument("--credit-limit", default="0")
        parser.add_argument("--country", default="UG", help="ISO 3166-1 alpha-2, for national numbers")
        parser.add_argument("--timezone", default="Africa/Kampala")
        parser.add_argument("--send-rate-limit", default="", help="e.g. 10/15m (default: SEND_RATE_LIMIT)")
        parser.add_argument("--api-rate-limit", default="", help="e.g. 3600/h (default: API_RATE_LIMIT)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            balance = parse_amount(options["balance"], field="balance")
            with transaction.atomic():
                client = client_create(
                    name=options["name"],
                    country=options["country"],
                    timezone_name=options["timezone"],
                    send_rate_limit=options["send_rate_limit"],
                    api_rate_limit=options["api_rate_limit"],
                )
                wallet = wallet_create(
                    client=client,
                    currency=options["currency"],
                    billing=options["billing"],
                    credit_limit=options["credit_limit"],
                )
                if balance > 0:
                    wallet_topup(wallet=wallet, amount=balance, note="Opening balance")
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from None
        self.stderr.write(f"Created client '{client.name}' with a {wallet.currency} {wallet.billing} wallet.")
        self.stdout.write(str(client.id))
