"""CSV exports streamed row by row, with spreadsheet formulas neutralised (OWASP's CSV injection)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value: object) -> str:
    """The cell as text; one starting like a formula gets a leading `'` so a spreadsheet shows it
    instead of evaluating it (a phone number `+256…` is then text, which is what it is)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer formats one row at a time."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(list(header))
    for row in rows:
        yield writer.writerow([neutralize(cell) for cell in row])
