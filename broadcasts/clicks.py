"""A message's first click by a person: `clicked`, and `message.clicked` once (SPEC §11, §12).

tracking counts clicks and knows messages only by id; this module, run by beat every 2 s
(tasks.process_clicks), turns each batch's first clicks into the message's flag and its event, in
the transaction that marks the clicks processed: a batch that rolls back leaves its clicks to be
processed again, and a message already `clicked` is never announced twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from tracking.clicks import clicks_process
from webhooks import events as types
from webhooks.selectors import event_types_wanted
from webhooks.services import events_record

from .events import EVENT_COLUMNS, message_data

BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class ClicksApplied:
    claimed: int  # clicks counted by tracking (people's and bots')
    clicked: int  # messages newly marked clicked
    events: int  # message.clicked events recorded


def clicks_apply(*, limit: int = BATCH_SIZE) -> ClicksApplied:
    """One batch of clicks, in one transaction: links' counters (tracking.clicks.clicks_process),
    then `clicked` on the messages clicked for the first time, with their `message.clicked` event
    (`url` and `clicked_at` of the message's earliest click by a person)."""
    with transaction.atomic():
        batch = clicks_process(limit=limit)
        if not batch.first_clicks:
            return ClicksApplied(claimed=batch.claimed, clicked=0, events=0)
        first = {click.message_id: click for click in batch.first_clicks}
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE broadcasts_message m SET clicked = true
                 WHERE m.id = ANY(%s) AND NOT m.clicked
                RETURNING {EVENT_COLUMNS}
                """,  # noqa: S608 - EVENT_COLUMNS is a constant
                [sorted(first)],
            )
            rows = cursor.fetchall()
        by_client: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
        for row in rows:
            click = first[row[0]]
            by_client[row[1]].append({**message_data(row), "url": click.url, "clicked_at": click.clicked_at})
        events = 0
        for client_id, items in by_client.items():
            if types.MESSAGE_CLICKED in event_types_wanted(client_id=client_id):
                events += events_record(client_id=client_id, type=types.MESSAGE_CLICKED, items=items)
    return ClicksApplied(claimed=batch.claimed, clicked=len(rows), events=events)


def clicks_apply_all(*, limit: int = BATCH_SIZE, max_batches: int = 20) -> ClicksApplied:
    """Batches while they come full (more clicks wait), at most `max_batches` (beat runs it again
    in 2 s)."""
    claimed = clicked = events = 0
    for _ in range(max_batches):
        done = clicks_apply(limit=limit)
        claimed, clicked, events = claimed + done.claimed, clicked + done.clicked, events + done.events
        if done.claimed < limit:
            break
    return ClicksApplied(claimed=claimed, clicked=clicked, events=events)
