from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.channels import Channel
from accounts.exceptions import describe_validation_error
from accounts.selectors import client_get
from broadcasts.services import sender_create


class Command(BaseCommand):
    help = "Register an approved sender ID (or number) for a client; prints the sender's id last."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id")
        parser.add_argument("sender")
        parser.add_argument("--channel", default=Channel.SMS, choices=Channel.values)

    def handle(self, *args: Any, **options: Any) -> None:
        client = client_get(client_id=options["client_id"])
        if client is None:
            raise CommandError(f"Unknown client '{options['client_id']}'.")
        try:
            sender = sender_create(client=client, sender=options["sender"], channel=options["channel"])
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from None
        self.stderr.write(f"Registered sender '{sender.sender}' ({sender.channel}) for {client.name}.")
        self.stdout.write(str(sender.id))
