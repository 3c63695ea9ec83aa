"""Shared set-up for benchmarks: a fresh, migrated database of their own, and a timer.

Benchmarks run against real PostgreSQL (DATABASE_URL, else the embedded one) in a database named
test_herald_bench, created at start and dropped at the end, so they never touch development data or
a test run in progress. They report ratios measured side by side in the same run (e.g. our import
vs a raw COPY of the same rows), because absolute times drift on shared machines.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

T = TypeVar("T")


@contextmanager
def bench_database() -> Iterator[None]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["HERALD_TEST_TAG"] = "bench"
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
