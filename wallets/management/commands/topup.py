"""topup CLIENT_ID AMOUNT [--note TEXT]: credit a client's wallet; prints the new balance last."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.exceptions import describe_validation_error
from accounts.selectors import client_get
from wallets.selectors import wallet_get
from wallets.services import wallet_topup


class Command(BaseCommand):
    help = "Credit a client's wallet (a top-up ledger entry); prints the new balance last."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id")
        parser.add_argument("amount", help="In the wallet's currency, e.g. 250 or 12.50")
        parser.add_argument("--note", default="", help="Why (e.g. the payment's reference)")

    def handle(self, *args: Any, **options: Any) -> None:
        client = client_get(client_id=options["client_id"])
        if client is None:
            raise CommandError(f"Unknown client '{options['client_id']}'.")
        wallet = wallet_get(client=client)
        if wallet is None:
            raise CommandError(f"Client '{client.name}' has no wallet.")
        try:
            entry = wallet_topup(wallet=wallet, amount=options["amount"], note=options["note"])
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from None
        self.stderr.write(f"Credited {entry.amount:f} {wallet.currency} to '{client.name}'.")
        self.stdout.write(f"{entry.balance_after:f}")
