"""What /healthz judges: is beat alive, does every queue have a consumer, has anything waited too long.

Pure rules over facts the selectors read (heartbeat rows, backlog ages), so they are tested without
processes. Beat proves itself by recording `beat` each time it sends a queue's heartbeat, and
`beat-started` when it starts; a worker that consumes queue `q` records `queue:q` when it runs that
queue's heartbeat (accounts.tasks). Works the same on every broker (redis, the filesystem transport,
…) and costs /healthz one indexed read, never a broadcast to the workers.

- beat: a problem once its last heartbeat is older than `max_age`; never seen at all, once this web
  process has served for longer than `max_age` (a stack that has just started is not unhealthy).
- a queue: consumed when its heartbeat ran within `max_age` of now, counting from beat's start at the
  earliest (a worker has a minute to take its first heartbeat); unknown while beat is not alive
  (nothing then sends heartbeats to judge by).
- a backlog (the oldest due message, the oldest due webhook delivery): a problem once it has waited
  longer than `max_age`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

BEAT = "beat"
BEAT_STARTED = "beat-started"
QUEUE_PREFIX = "queue:"

CONSUMED = "ok"
UNCONSUMED = "missing"
UNKNOWN = "unknown"


def queue_heartbeat(queue: str) -> str:
    """The heartbeat row a worker consuming `queue` records."""
    return f"{QUEUE_PREFIX}{queue}"


@dataclass(frozen=True)
class QueueHealth:
    consumer: str  # CONSUMED, UNCONSUMED or UNKNOWN
    last_heartbeat: datetime | None


@dataclass(frozen=True)
class HealthReport:
    beat_last_seen: datetime | None
    queues: dict[str, QueueHealth]
    backlogs: dict[str, float | None]  # name -> seconds the oldest item has waited (None: nothing waits)
    problems: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "beat_last_seen": _iso(self.beat_last_seen),
            "queues": {
                name: {"consumer": queue.consumer, "last_heartbeat": _iso(queue.last_heartbeat)}
                for name, queue in self.queues.items()
            },
            **{f"{name}_s": age for name, age in self.backlogs.items()},
            "problems": list(self.problems),
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _age(now: datetime, since: datetime) -> float:
    return max(0.0, round((now - since).total_seconds(), 1))


def health_assess(
    *,
    now: datetime,
    max_age: float,
    heartbeats: Mapping[str, datetime],
    queues: Iterable[str],
    backlogs: Mapping[str, datetime | None],
    serving_since: datetime | None,
) -> HealthReport:
    """Judge the facts: `heartbeats` by row name, `backlogs` by name -> since when its oldest item waits."""
    limit = timedelta(seconds=max_age)
    problems: list[str] = []
    beat = heartbeats.get(BEAT)
    beat_alive = beat is not None and now - beat <= limit
    if beat is None:
        if serving_since is not None and now - serving_since > limit:
            problems.append(f"beat: no heartbeat since this server started {_age(now, serving_since):.0f} s ago")
    elif not beat_alive:
        problems.append(f"beat: last heartbeat {_age(now, beat):.0f} s ago")
    beat_started = heartbeats.get(BEAT_STARTED)
    report_queues: dict[str, QueueHealth] = {}
    for name in queues:
        last = heartbeats.get(queue_heartbeat(name))
        if not beat_alive:
            consumer = UNKNOWN
        else:
            # Since when a consumer had the chance to run the queue's heartbeat.
            since = max((m for m in (last, beat_started) if m is not None), default=None)
            consumer = CONSUMED if since is not None and now - since <= limit else UNCONSUMED
            if consumer == UNCONSUMED:
                seen = f"last heartbeat {_age(now, last):.0f} s ago" if last else "no heartbeat yet"
                problems.append(f"queue {name}: no consumer ({seen})")
        report_queues[name] = QueueHealth(consumer=consumer, last_heartbeat=last)
    ages: dict[str, float | None] = {}
    for name, since in backlogs.items():
        ages[name] = _age(now, since) if since is not None and since <= now else None
        if since is not None and now - since > limit:
            problems.append(f"{name.replace('_', ' ')}: waiting {_age(now, since):.0f} s")
    return HealthReport(beat_last_seen=beat, queues=report_queues, backlogs=ages, problems=problems)
