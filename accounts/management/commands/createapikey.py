from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.exceptions import describe_validation_error
from accounts.selectors import client_get
from accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a client; prints the key (shown once) alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id")
        parser.add_argument("--scopes", required=True, help="Comma-separated, e.g. send_sms,read")
        parser.add_argument("--ip", action="append", default=[], help="Allowed IP or CIDR (repeatable)")
        parser.add_argument("--name", default="API key")

    def handle(self, *args: Any, **options: Any) -> None:
        client = client_get(client_id=options["client_id"])
        if client is None:
            raise CommandError(f"Unknown client '{options['client_id']}'.")
        ips = [part for value in options["ip"] for part in value.split(",") if part.strip()]
        try:
            api_key, raw = api_key_create(
                client=client, name=options["name"], scopes=options["scopes"].split(","), allowed_ips=ips
            )
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from None
        self.stderr.write(f"Created API key '{api_key.name}' ({api_key.masked}) for {client.name}.")
        self.stdout.write(raw)
