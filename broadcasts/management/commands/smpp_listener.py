from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from broadcasts.models import Connector
from broadcasts.smpp.listener import RELOAD, Listener


class Command(BaseCommand):
    help = (
        "Hold the receiving SMPP binds of every active smpp connector and store receipts and MO "
        "(docs/providers/smpp.md). Runs until SIGTERM / Ctrl-C, then unbinds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connector", help="only this connector (name or id)")
        parser.add_argument("--reload", type=float, default=RELOAD, help="seconds between reads of the connectors")
        parser.add_argument(
            "--active", action="store_true", help="print the number of active smpp connectors and exit (make run)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["active"]:
            self.stdout.write(str(Connector.objects.filter(backend=Connector.Backend.SMPP, active=True).count()))
            return
        listener = Listener(only=options["connector"])
        asyncio.run(listener.run(reload_every=options["reload"]))
