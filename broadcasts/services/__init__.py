"""Every write on broadcasts, by concern; the API, the dashboard, the admin, commands and tasks
call these names from here.

- context:    the client's wallet and the plan's context; the precheck (nothing written)
- create:     create (simulate, draft, or plan → write → reserve → enqueue)
- prepare:    large audiences: accepted with an estimate, prepared in the background chunk by chunk
- request:    the create body a broadcast came from (for drafts, edits, test sends, preparation)
- reserve:    reserving credit for rows just written
- drafts:     edit, send a draft, delete
- lifecycle:  a user's actions on an accepted broadcast: cancel, pause, resume, retry-failed
- test_sends: a few messages now, through the broadcast's own send path
- tick:       beat's safety net (start due broadcasts, restart dead dispatchers)
- senders:    registering sender IDs and connectors

Sending itself (claim → send → record) is in claims.py, dispatch.py and recording.py.
"""

from ..audience import SKIP_INVALID, SKIP_OPTED_OUT, SKIP_UNROUTABLE
from .context import broadcast_precheck, client_wallet, plan_context, planned_rows, precheck_body
from .create import Accepted, broadcast_create
from .drafts import broadcast_delete, broadcast_send, broadcast_update
from .lifecycle import broadcast_cancel, broadcast_pause, broadcast_resume, broadcast_retry_failed
from .prepare_ahead import prepare_run
from .request import request_data
from .reserve import reserve_after_checks
from .senders import connector_create, normalize_sender, sender_create, sender_is_registered
from .test_sends import MAX_TEST_RECIPIENTS, broadcast_test
from .tick import broadcasts_tick

__all__ = [
    "MAX_TEST_RECIPIENTS",
    "SKIP_INVALID",
    "SKIP_OPTED_OUT",
    "SKIP_UNROUTABLE",
    "Accepted",
    "broadcast_cancel",
    "broadcast_create",
    "broadcast_delete",
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
    "normalize_sender",
    "plan_context",
    "planned_rows",
    "precheck_body",
    "prepare_run",
    "request_data",
    "reserve_after_checks",
    "sender_create",
    "sender_is_registered",
]
