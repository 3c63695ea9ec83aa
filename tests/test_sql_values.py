"""accounts/sql_values.py: per-row values keyed by id, so a many-row UPDATE has no join to plan."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from accounts.sql_values import int_array, rows_by_id, text_array
from webhooks.delivery import RECORD_SQL


def test_values_keep_decimals_and_times_exactly() -> None:
    moment = datetime(2026, 12, 7, 4, 53, 11, 123456, tzinfo=UTC)
    decoded = json.loads(rows_by_id({7: {"cost": Decimal("0.000268571"), "at": moment, "n": None}}))
    assert decoded == {"7": {"cost": "0.000268571", "at": "2026-12-07T04:53:11.123456+00:00", "n": None}}
    with pytest.raises(TypeError):
        rows_by_id({1: object()})


@pytest.mark.django_db
def test_the_webhook_record_has_no_join_to_plan() -> None:
    """The attempts' record reads each outcome by id: statistics counting no `sending` delivery
    cannot make it a loop over the batch's list per attempt."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE webhooks_webhookdelivery")
        cursor.execute(
            "EXPLAIN " + RECORD_SQL,
            {"rows": rows_by_id({1: {"status": "succeeded", "code": 200}}), "ids": [1, 2]},
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Join" not in plan, plan
    assert "Nested Loop" not in plan, plan


@pytest.mark.django_db
def test_array_literals_read_back_as_the_same_lists() -> None:
    """One literal instead of a list psycopg renders element by element: whatever a provider id holds
    (commas, braces, quotes, backslashes, spaces, the word NULL, nothing), PostgreSQL reads back the
    same strings, and the same integers."""
    texts = ["0a1b", "a,b", "{x}", 'q"uote', "back\\slash", " spaced ", "NULL", "", "ü€😀", '\\"{,}']
    numbers = [1, 0, -7, 2**62, 9_000_000_001]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[], %s::bigint[], %s::text[], %s::bigint[]", [
            text_array(texts), int_array(numbers), text_array([]), int_array(iter(()))
        ])  # fmt: skip
        assert cursor.fetchone() == (texts, numbers, [], [])
    with pytest.raises(ValueError, match="invalid literal"):
        int_array(["1; DROP TABLE x"])  # type: ignore[list-item]


def test_no_many_row_update_joins_a_list_of_values() -> None:
    """Every `UPDATE … SET … FROM unnest(…)` was rewritten to `id = ANY` with values read by id (the
    module's docstring says why); a new one would bring the plan hazard back."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    statement = re.compile(
        r"UPDATE\s+\w+(?:\s+(?:AS\s+)?\w+)?\s+SET\b(?:(?!\bUPDATE\b|\bINSERT\b|\bSELECT\b|\bWITH\b).){0,600}?"
        r"\bFROM\s+unnest\(",
        re.S | re.I,
    )
    found = [
        f"{path.relative_to(root)}:{text[: match.start()].count(chr(10)) + 1}"
        for package in sorted(p.parent for p in root.glob("*/__init__.py") if p.parent.name != "tests")
        for path in sorted(package.rglob("*.py"))
        if path != root / "accounts" / "sql_values.py"  # its docstring shows the old form
        for text in [path.read_text()]
        for match in statement.finditer(text)
    ]
    assert found == [], found
