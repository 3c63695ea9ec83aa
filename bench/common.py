"""Shared set-up for benchmarks: a fresh, migrated database of their own, a timer, and a verdict.

Benchmarks run against real PostgreSQL (DATABASE_URL, else the embedded one) in a database of their
own, created at start and dropped at the end, so they never touch development data or a test run in
progress. Its name carries this checkout's tag and the bench's process id (`run_tag`), so two
checkouts, or a CI run and a bench by hand on one server, never share (or drop) each other's. They
report ratios measured side by side in the same run (e.g. our import vs a raw COPY of the same
rows), because absolute times drift on shared machines.

Every bench takes `--quick`: a small size, run by `.ci/run` so a broken bench fails CI. A quick run
enforces only what must hold at any size (the work was done, every figure is possible: no zero
time, no wrong count); a full run (`make bench`) enforces the targets too. Either way a bench exits
non-zero with the reason when a check fails (`Verdict`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

T = TypeVar("T")

# A timed step shorter than this measured nothing (the work had been done before the clock started,
# or was never done): no rate is printed for it.
MIN_SECONDS = 0.001


def run_tag() -> str:
    """This checkout's tag and this process's id: unique among the runs on one database server."""
    from config.env import instance_tag

    return f"{instance_tag()}_{os.getpid()}"


def quick_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a small size (CI): only checks that the figures are possible, targets not enforced",
    )


@contextmanager
def bench_database() -> Iterator[None]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    # config.settings.test names the database test_herald_<tag> (and its Redis keys after it).
    os.environ["HERALD_TEST_TAG"] = f"bench_{run_tag()}"
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # the figures, not every import's log line
    import django

    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    old_config = setup_databases(verbosity=0, interactive=False)
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()
        teardown_databases(old_config, verbosity=0)


def timed(fn: Callable[[], T], repeat: int = 1) -> tuple[float, T]:
    """Best wall time of `repeat` runs (seconds), and the last run's result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def report(name: str, **figures: object) -> None:
    """One line per benchmark, `name: key=value …`, easy to paste into docs/benchmarks.md."""
    print(f"{name}: " + "  ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def fail(message: str) -> NoReturn:
    """Stop the bench: non-zero exit, the reason on stderr, no figure printed after it."""
    raise SystemExit(f"FAILED: {message}")


def require(ok: object, message: str) -> None:
    """A check that holds at any size (the work was done, once): fail loudly when it does not."""
    if not ok:
        fail(message)


class Verdict:
    """What a bench found wrong, said once at its end (`done`), with a non-zero exit if anything was.

    `possible`: a figure that cannot be true (a rate over zero time, a count that is not the size
    asked for, faster than the floor measured beside it) fails in every mode. `target`: a figure
    below its target fails a full run; a quick run only says so, since a tiny run on a busy CI
    machine measures start-up, not steady-state throughput.
    """

    def __init__(self, name: str, *, quick: bool) -> None:
        self.name = name
        self.quick = quick
        self.impossible: list[str] = []
        self.missed: list[str] = []
        mode = "quick: sanity checks only, targets not enforced" if quick else "full: targets enforced"
        print(f"{name}: mode={mode}", flush=True)

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def seconds(self, value: float, what: str) -> float:
        """A measured duration: at least MIN_SECONDS, else the rate built on it would be impossible."""
        self.possible(value >= MIN_SECONDS, f"{what} took {value:.6f} s: nothing was measured")
        return max(value, MIN_SECONDS)

    def possible(self, ok: object, message: str) -> None:
        if not ok:
            self.impossible.append(message)

    def target(self, ok: object, message: str) -> None:
        if not ok:
            self.missed.append(message)

    def done(self) -> None:
        """Print the verdict; exit non-zero on an impossible figure, or a missed target in a full run."""
        problems = [f"impossible: {m}" for m in self.impossible]
        if not self.quick:
            problems += [f"below target: {m}" for m in self.missed]
        if self.quick and self.missed:
            print(f"{self.name}: below the full run's target (not enforced in quick mode): " + "; ".join(self.missed))
        if problems:
            print(f"{self.name}: verdict=FAILED mode={self.mode}", flush=True)
            fail(f"{self.name}: " + "; ".join(problems))
        print(f"{self.name}: verdict=ok mode={self.mode}", flush=True)


def list_of_bench_contacts(cursor: Any, client_id: Any, count: int) -> uuid.UUID:
    """A contact list 'Everyone' holding the client's `count` contacts written with last name
    'Bench' (set-based, as the benches write them), its tables analyzed; returns its id."""
    list_id = uuid.uuid4()
    cursor.execute(
        "INSERT INTO contacts_contactlist (id, client_id, name, contact_count, created_at, updated_at)"
        " VALUES (%s, %s, 'Everyone', %s, now(), now())",
        [list_id, client_id, count],
    )
    cursor.execute(
        "INSERT INTO contacts_contactlistmembership (contact_list_id, contact_id)"
        " SELECT %s, id FROM contacts_contact WHERE client_id = %s AND last_name = 'Bench'",
        [list_id, client_id],
    )
    cursor.execute("ANALYZE contacts_contact")
    cursor.execute("ANALYZE contacts_contactlistmembership")
    return list_id


def ugandan_tenant(*, send_rate_limit: str = "1000/m") -> Any:
    """A client ready to send SMS to Uganda, as the benches use it: a USD wallet with 100,000,000 of
    credit, the simulator connector (tps 10,000), the seed's UG route (35 UGX a part) and its rate,
    the sender `Herald`. Returns the client (its wallet is `client.wallet`)."""
    from decimal import Decimal

    from accounts.services import client_create
    from broadcasts.services import connector_create, sender_create
    from wallets.models import ExchangeRate, Route
    from wallets.services import wallet_create, wallet_topup

    client = client_create(name="Bench", country="UG", timezone_name="Africa/Kampala", send_rate_limit=send_rate_limit)
    wallet = wallet_create(client=client, currency="USD")
    wallet_topup(wallet=wallet, amount=Decimal("100000000"))
    Route.objects.create(channel="sms", country_code="UG", route_code="ESMS_UG", connector="simulator",
                         currency="UGX", price_per_segment=Decimal("35"))  # fmt: skip
    ExchangeRate.objects.create(from_currency="UGX", to_currency="USD", rate=Decimal("0.000268571"))
    connector_create(name="simulator", channel="sms", backend="simulator", tps=10_000)
    sender_create(client=client, sender="Herald")
    return client
