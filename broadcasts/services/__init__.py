"""Every write on broadcasts, by concern; the API, the dashboard, the admin, commands and tasks
call these names from here.

- context:    the client's wallet and the plan's context; the precheck (nothing written)
- create:     create (simulate, draft, or plan → write → reserve → enqueue)
- drafts:     the create body a broadcast came from; edit, send a draft, delete
- lifecycle:  a user's actions on an accepted broadcast: cancel, pause, resume, retry-failed
- test_sends: a few messages now, through the broadcast's own send path
- tick:       beat's safety net (start due broadcasts, restart dead dispatchers)
- senders:    registering sender IDs and connectors

Sending itself (claim → send → record) is in claims.py, dispatch.py and recording.py.
"""

from .context import broadcast_precheck, client_wallet, plan_context, precheck_body
from .create import Accepted, broadcast_create, reserve_after_checks
from .drafts import broadcast_delete, broadcast_send, broadcast_update, request_data
from .lifecycle import broadcast_cancel, broadcast_pause, broadcast_resume, broadcast_retry_failed
from .senders import connector_create, normalize_sender, sender_create, sender_is_registered
from .test_sends import MAX_TEST_RECIPIENTS, broadcast_test
from .tick import broadcasts_tick

__all__ = [
    "MAX_TEST_RECIPIENTS",
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
    "precheck_body",
    "request_data",
    "reserve_after_checks",
    "sender_create",
    "sender_is_registered",
]
