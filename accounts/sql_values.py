"""Per-row values for one UPDATE of many rows, keyed by the rows' ids.

`UPDATE t SET … FROM unnest(ids, values…) AS v WHERE t.id = v.id` is a join between the table and
a list, and its plan depends on statistics: taken before the rows reached the filtered state (no
`sending` message known, say), the planner estimates one row on the table's side and reads the
whole list once per row (a nested loop: 100-150 ms instead of ~25 for 500 messages in bench_smpp),
or scans the whole table per batch. Instead the rows are found by `id = ANY(%(ids)s)` and each reads
its own values from a JSON object by its id (`%(r)s::jsonb -> t.id::text ->> 'column'`, or
`jsonb_to_record(…)` for many columns): there is no join to plan badly.

Lists of ids go as one array literal (`int_array`, `text_array`, cast in the SQL: `%s::bigint[]`):
psycopg's client-side binding renders a Python list element by element (~0.7 µs each), the literal
is built by `str.join` (~0.1 µs each); dispatch and receipts pass several such lists per message.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal


def rows_by_id(values: Mapping[int, object] | Mapping[str, object]) -> str:
    """The values as one JSON object keyed by id (the module's docstring says why)."""
    return json.dumps({str(key): value for key, value in values.items()}, default=_json_value)


def int_array(values: Iterable[int]) -> str:
    """The integers as one PostgreSQL array literal (`{1,2,3}`), to be cast `::bigint[]`."""
    return "{" + ",".join(map(str, map(int, values))) + "}"


def text_array(values: Iterable[str]) -> str:
    """The strings as one PostgreSQL array literal, each element quoted (commas, braces, quotes,
    backslashes, spaces and the word NULL kept as they are), to be cast `::text[]`."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _json_value(value: object) -> str:
    """Decimals and datetimes exactly (DjangoJSONEncoder would cut a time to milliseconds)."""
    if isinstance(value, Decimal | datetime):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
