"""Recount every broadcast's counters from its messages and compare (SPEC §8 stats).

manage.py recountbroadcasts            # report the broadcasts whose counters differ; exit 1 if any
manage.py recountbroadcasts --repair   # and set them to the recount
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from broadcasts.counters import counts_check, counts_repair


class Command(BaseCommand):
    help = "Recount broadcasts' counters from their messages; report (and with --repair fix) any difference."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--repair", action="store_true", help="set differing counters to the recount")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["repair"]:
            fixed = counts_repair()
            self.stdout.write(f"{len(fixed)} broadcast(s) repaired")
            for broadcast_id in fixed:
                self.stdout.write(f"  {broadcast_id}")
            return
        wrong = counts_check()
        for broadcast_id, (counters, counted) in wrong.items():
            self.stdout.write(f"{broadcast_id}: counters {counters} != recount {counted}")
        if wrong:
            raise CommandError(f"{len(wrong)} broadcast(s) differ; run with --repair to fix them")
        self.stdout.write("every broadcast checked: the counters equal the recount")
