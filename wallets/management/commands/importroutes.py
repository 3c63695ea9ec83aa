"""importroutes FILE.csv: upsert price routes, all or nothing; prints the number of routes last."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from wallets.price_services import ROUTE_COLUMNS, route_import_csv


class Command(BaseCommand):
    help = f"Upsert price routes from a CSV with the columns {','.join(ROUTE_COLUMNS)}; prints the number of routes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV file (UTF-8); prefix may be empty")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                result = route_import_csv(lines=handle)
        except OSError as exc:
            raise CommandError(f"Cannot read '{path}': {exc.strerror or exc}.") from None
        except UnicodeDecodeError:
            raise CommandError(f"'{path}' is not UTF-8 text.") from None
        except ValidationError as exc:
            raise CommandError("Nothing was imported. " + " ".join(exc.messages)) from None
        self.stderr.write(f"Imported {result.routes} routes ({result.created} new, {result.updated} updated).")
        self.stdout.write(str(result.routes))
