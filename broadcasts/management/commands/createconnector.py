from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.channels import Channel
from accounts.exceptions import describe_validation_error
from accounts.models import Client
from broadcasts.models import Connector
from broadcasts.services import connector_create


class Command(BaseCommand):
    help = "Create a provider connector; prints the connector's id last. The config is stored encrypted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--channel", default=Channel.SMS, choices=Channel.values)
        parser.add_argument("--backend", required=True, choices=Connector.Backend.values)
        parser.add_argument("--config", default="{}", help="JSON object, e.g. '{\"failure_rate\": 0.1}'")
        parser.add_argument("--tps", type=int, default=None, help="messages a second (default 50; required for smpp)")
        parser.add_argument(
            "--client",
            metavar="CLIENT_ID",
            help="a tenant's own connector: only that client's broadcasts go through it (default: platform-wide)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        client = None
        if options["client"]:
            try:
                client = Client.objects.get(pk=uuid.UUID(options["client"]))
            except (ValueError, Client.DoesNotExist):
                raise CommandError(f"No client with the id '{options['client']}'.") from None
        try:
            config = json.loads(options["config"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--config is not valid JSON: {exc.msg} (column {exc.colno}).") from None
        try:
            connector = connector_create(
                name=options["name"],
                channel=options["channel"],
                backend=options["backend"],
                config=config,
                tps=options["tps"],
                client=client,
            )
        except ValidationError as exc:
            raise CommandError(describe_validation_error(exc)) from None
        owner = f", {client.name}'s own" if client else ""
        self.stderr.write(f"Created connector '{connector.name}' ({connector.backend}, {connector.channel}{owner}).")
        self.stdout.write(str(connector.id))
