"""Every status change of a broadcast or a message is decided here.

Messages move forward only: pending → queued → sending → sent → delivered → read, with failed,
skipped and cancelled as ends. Two exceptions, each named here: a user's explicit `retry-failed`
puts failed messages back in the queue for a new attempt (RETRY_FROM, docs/broadcasts.md), and a
dispatcher gives back a claim it never handed to a provider (UNCLAIM_FROM), or gives it back
skipped because its WhatsApp window closed (SKIP_CLAIMED_FROM). Delivery reports
arriving out of order can therefore never move a message backwards: `message_sources(target)`
gives the statuses a conditional UPDATE may move from, and anything else is left alone.

Broadcast actions are a table of (allowed from-statuses → allowed to-statuses); every move of a
broadcast's status goes through `transitions.py`, a conditional UPDATE over this table, so of two
concurrent actions exactly one wins and the other gets a 409.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Broadcast, Message

M = Message.Status
B = Broadcast.Status

# Forward rank of the live statuses; ends (failed/skipped/cancelled) have no successor.
_RANK: dict[str, int] = {M.PENDING: 0, M.QUEUED: 1, M.SENDING: 2, M.SENT: 3, M.DELIVERED: 4, M.READ: 5}

_MESSAGE_MOVES: dict[str, frozenset[str]] = {
    M.PENDING: frozenset({M.QUEUED, M.SENDING, M.CANCELLED, M.SKIPPED}),
    M.QUEUED: frozenset({M.SENDING, M.CANCELLED, M.SKIPPED}),
    M.SENDING: frozenset({M.SENT, M.DELIVERED, M.READ, M.FAILED}),
    # A delivery report may skip `delivered` (read implies delivered) or report a late failure.
    M.SENT: frozenset({M.DELIVERED, M.READ, M.FAILED}),
    M.DELIVERED: frozenset({M.READ}),
    M.READ: frozenset(),
    M.FAILED: frozenset(),
    M.SKIPPED: frozenset(),
    M.CANCELLED: frozenset(),
}

RETRY_FROM = frozenset({M.FAILED})
# The other move back: a claim given back untouched (nothing was handed to a provider), queued again.
UNCLAIM_FROM = frozenset({M.SENDING})
# A claim given back and skipped in one move: a WhatsApp free-text message whose customer-service
# window closed before it was handed over (whatsapp_window.py). Never one handed to a provider.
SKIP_CLAIMED_FROM = UNCLAIM_FROM
ACTIVE_MESSAGE_STATUSES = frozenset({M.PENDING, M.QUEUED, M.SENDING})
LEFT_STATUSES = frozenset({M.SENT, M.DELIVERED, M.READ})


def message_can_move(current: str, target: str) -> bool:
    return target in _MESSAGE_MOVES.get(current, frozenset())


def message_sources(target: str) -> frozenset[str]:
    """Statuses from which a message may move to `target` (for conditional updates)."""
    return frozenset(s for s, moves in _MESSAGE_MOVES.items() if target in moves)


def message_is_backwards(current: str, target: str) -> bool:
    return current in _RANK and target in _RANK and _RANK[target] < _RANK[current]


@dataclass(frozen=True)
class BroadcastAction:
    name: str
    sources: frozenset[str]
    describe: str
    # Where the action may take the broadcast (empty: it changes the row, not its status).
    targets: frozenset[str] = frozenset()


ACTIONS: dict[str, BroadcastAction] = {
    "send": BroadcastAction(
        "send", frozenset({B.DRAFT}), "Only a draft can be sent.", frozenset({B.QUEUED, B.SCHEDULED})
    ),
    "start": BroadcastAction(
        "start", frozenset({B.SCHEDULED}), "Only a scheduled broadcast can start.", frozenset({B.QUEUED})
    ),
    "dispatch": BroadcastAction(
        "dispatch", frozenset({B.QUEUED}), "Only a queued broadcast starts sending.", frozenset({B.SENDING})
    ),
    "pause": BroadcastAction(
        "pause",
        frozenset({B.QUEUED, B.SENDING}),
        "Only a queued or sending broadcast can be paused.",
        frozenset({B.PAUSED}),
    ),
    "resume": BroadcastAction(
        "resume", frozenset({B.PAUSED}), "Only a paused broadcast can be resumed.", frozenset({B.QUEUED})
    ),
    "cancel": BroadcastAction(
        "cancel",
        frozenset({B.SCHEDULED, B.QUEUED, B.SENDING, B.PAUSED}),
        "Only a scheduled, queued, sending or paused broadcast can be cancelled.",
        frozenset({B.CANCELLED}),
    ),
    "complete": BroadcastAction(
        "complete",
        frozenset({B.QUEUED, B.SENDING}),
        "Only a broadcast that is sending can complete.",
        frozenset({B.SENT, B.PARTIALLY_SENT, B.FAILED}),
    ),
    "retry": BroadcastAction(
        "retry",
        frozenset({B.SENT, B.PARTIALLY_SENT, B.FAILED}),
        "Failed messages can be retried once the broadcast has finished sending.",
        frozenset({B.QUEUED}),
    ),
    "edit": BroadcastAction(
        "edit",
        frozenset({B.DRAFT, B.SCHEDULED}),
        "Only a draft or scheduled broadcast can be changed.",
        frozenset({B.QUEUED, B.SCHEDULED}),  # a scheduled edit is planned again; a draft stays one
    ),
    "delete": BroadcastAction(
        "delete", frozenset({B.DRAFT, B.SCHEDULED}), "Only a draft or scheduled broadcast can be deleted."
    ),
    # Not a move: a test send leaves the status alone. Listed so every door asks this one table.
    "test": BroadcastAction("test", frozenset(B.values) - {B.CANCELLED}, "A cancelled broadcast cannot be tested."),
    # A recurring series (services/recurring.py): `scheduled` while it runs, `paused`, `cancelled`
    # (the `cancel` above), or `sent` once its rule has no occurrence left. It sends nothing itself.
    "series_pause": BroadcastAction(
        "series_pause", frozenset({B.SCHEDULED}), "Only a running series can be paused.", frozenset({B.PAUSED})
    ),
    "series_resume": BroadcastAction(
        "series_resume", frozenset({B.PAUSED}), "Only a paused series can be resumed.", frozenset({B.SCHEDULED})
    ),
    "series_edit": BroadcastAction(
        "series_edit", frozenset({B.SCHEDULED, B.PAUSED}), "Only a running or paused series can be changed."
    ),
    "series_end": BroadcastAction(
        "series_end", frozenset({B.SCHEDULED}), "Only a running series can end.", frozenset({B.SENT})
    ),
}


def actions_allowed(status: str) -> frozenset[str]:
    """The actions a broadcast in `status` allows: what a door offers (the service decides anyway)."""
    return frozenset(name for name, spec in ACTIONS.items() if status in spec.sources)


# Why a message waits (SPEC §10 `wait_reason`): its broadcast's schedule or drip slot, quiet hours
# in the recipient's country, a retry's backoff, or credit the broadcast waits for.
WAIT_SCHEDULED = "scheduled"
WAIT_DRIP = "drip"
WAIT_QUIET_HOURS = "quiet_hours"
WAIT_RETRY = "retry"
WAIT_INSUFFICIENT_CREDIT = "insufficient_credit"
# An A/B test's rest: waits, unclaimable, for the decision that gives it the winner (ab_planning.py).
WAIT_AB_TEST = "ab_test"
WAIT_REASONS = (WAIT_SCHEDULED, WAIT_DRIP, WAIT_QUIET_HOURS, WAIT_RETRY, WAIT_INSUFFICIENT_CREDIT, WAIT_AB_TEST)
# A large audience's preparation found too little credit for its next chunk (SPEC §8): the broadcast
# pauses with this reason, and what it has left to send waits for a top-up and `resume`. Its messages
# say so by `wait_reason` `insufficient_credit`, derived from the broadcast, never stored on them
# (broadcasts.selectors.message_wait), so a resume leaves nothing stale behind.
PAUSE_INSUFFICIENT_CREDIT = WAIT_INSUFFICIENT_CREDIT


def broadcast_waits_for_credit(*, status: str, pause_reason: str) -> bool:
    """A broadcast paused because its credit ran out: its unsent messages wait for credit."""
    return status == B.PAUSED and pause_reason == PAUSE_INSUFFICIENT_CREDIT


TERMINAL_BROADCAST = frozenset({B.SENT, B.PARTIALLY_SENT, B.FAILED, B.CANCELLED})
DISPATCHABLE_BROADCAST = frozenset({B.QUEUED, B.SENDING})

UI_STATUS: dict[str, str] = {
    B.DRAFT: "Draft",
    B.SCHEDULED: "Scheduled",
    B.QUEUED: "Ongoing",
    B.SENDING: "Ongoing",
    B.PAUSED: "Paused",
    B.SENT: "Completed",
    B.PARTIALLY_SENT: "Completed",
    B.FAILED: "Failed",
    B.CANCELLED: "Cancelled",
}


# The UI statuses as filter values (lower case), each with the statuses it stands for, in the
# order a manager meets them: one name per state on every page, in every filter (issue 21).
UI_STATUS_FILTERS: dict[str, frozenset[str]] = {
    label.lower(): frozenset(status for status, shown in UI_STATUS.items() if shown == label)
    for label in dict.fromkeys(UI_STATUS.values())
}


def ui_status_choices() -> list[tuple[str, str]]:
    """(filter value, label) of each UI status, for a status filter."""
    return [(key, key.capitalize()) for key in UI_STATUS_FILTERS]


def statuses_for_filter(value: str) -> frozenset[str] | None:
    """The broadcast statuses a status filter value stands for: a UI status (`ongoing`,
    `completed` …) or one broadcast status (`sending`: links written before); None when neither."""
    if value in UI_STATUS_FILTERS:
        return UI_STATUS_FILTERS[value]
    return frozenset({value}) if value in UI_STATUS else None


def completion_status(*, left: int, failed: int) -> str:
    """The broadcast's end status from how many messages left and how many failed to."""
    if failed == 0:
        return B.SENT
    if left == 0:
        return B.FAILED
    return B.PARTIALLY_SENT
