"""Every write on broadcasts, by concern; the API, the dashboard, the admin, commands and tasks
call these names from here.

- context:    the client's wallet and the plan's context; the precheck (nothing written)
- create:     create (simulate, draft, or plan → write → reserve → enqueue)
- prepare:    large audiences: accepted with an estimate, prepared in the background chunk by chunk
- request:    the create body a broadcast came from (for drafts, edits, test sends, preparation)
- reserve:    reserving credit for rows just written
- drafts:     edit, send a draft, delete
- follow_up:  a new broadcast to an audience of a finished one's recipients (not clicked, …)
- lifecycle:  a user's actions on an accepted broadcast: cancel, pause, resume, retry-failed
- recurring, recurring_runs: recurring series — accept, pause/resume/cancel, fire occurrences, edit
- ab_context, ab_test: A/B tests — the variants on the plan's context; beat's decision (ab_test.ab_decide_due)
- test_sends: a few messages now, through the broadcast's own send path
- tick:       beat's safety net (start due broadcasts, restart dead dispatchers)
- senders:    registering sender IDs and connectors

Sending itself (claim → send → record) is in claims.py, dispatch.py and recording.py.
"""

from ..audience import SKIP_INVALID, SKIP_OPTED_OUT, SKIP_UNROUTABLE
from .context import broadcast_precheck, client_wallet, plan_context, planned_rows, precheck_body
from .create import Accepted, broadcast_create
from .drafts import broadcast_delete, broadcast_send, broadcast_update
from .follow_up import (
    FOLLOW_UP_AUDIENCES,
    FOLLOW_UP_LABELS,
    broadcast_follow_up,
    broadcast_follow_up_precheck,
    follow_up_possible,
)
from .lifecycle import broadcast_cancel, broadcast_pause, broadcast_resume, broadcast_retry_failed
from .prepare_ahead import prepare_run
from .recurring import UPCOMING, is_series, series_upcoming
from .recurring_runs import series_fire_due
from .request import request_data
from .reserve import reserve_after_checks
from .senders import connector_create, normalize_sender, sender_create, sender_is_registered
from .test_sends import MAX_TEST_RECIPIENTS, broadcast_test
from .tick import broadcasts_tick

__all__ = [
    "FOLLOW_UP_AUDIENCES",
    "FOLLOW_UP_LABELS",
    "MAX_TEST_RECIPIENTS",
    "SKIP_INVALID",
    "SKIP_OPTED_OUT",
    "SKIP_UNROUTABLE",
    "UPCOMING",
    "Accepted",
    "broadcast_cancel",
    "broadcast_create",
    "broadcast_delete",
    "broadcast_follow_up",
    "broadcast_follow_up_precheck",
    "broadcast_pause",
    "broadcast_precheck",
    "broadcast_resume",
    "broadcast_retry_failed",
    "broadcast_send",
    "broadcast_test",
    "broadcast_update",
    "broadcasts_tick",
    "client_wallet",
    "connector_create",
    "follow_up_possible",
    "is_series",
    "normalize_sender",
    "plan_context",
    "planned_rows",
    "precheck_body",
    "prepare_run",
    "request_data",
    "reserve_after_checks",
    "sender_create",
    "sender_is_registered",
    "series_fire_due",
    "series_upcoming",
]
