"""/hooks/<connector id>/status/ and /inbound/: provider callbacks (SPEC §10), a thin door.

The connector's plugin authenticates and parses the callback (401/403 in the envelope when it is not
genuine); reports go to status_updates, inbound messages to inbound. Providers with one callback
URL (Telegram, WhatsApp) send everything to either path, and the plugin sorts it out.
"""

from __future__ import annotations

import uuid

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.api.errors import json_error
from broadcasts.connectors import HOOK_INBOUND, HOOK_STATUS, HookRejected, build_connector
from broadcasts.inbound import replies_receive
from broadcasts.models import Connector
from broadcasts.status_updates import messages_apply_status

log = structlog.get_logger(__name__)

KINDS = (HOOK_STATUS, HOOK_INBOUND)


@csrf_exempt
def connector_hook(request: HttpRequest, connector_id: uuid.UUID, kind: str) -> HttpResponse:
    if kind not in KINDS:
        return json_error(404, "not_found", f"No hook at {request.path}; use status/ or inbound/.")
    try:
        connector = Connector.objects.filter(pk=connector_id).first()
        if connector is None:
            return json_error(404, "not_found", "No such connector.")
        plugin = build_connector(connector)
    except (LookupError, ValueError, ValidationError):  # unknown backend; config unreadable or invalid
        log.exception("hook.connector_unusable", connector_id=str(connector_id))
        return json_error(503, "connector_unavailable", "This connector cannot take callbacks right now.")
    try:
        result = plugin.handle_hook(request, kind=kind, public_url=settings.PUBLIC_BASE_URL + request.get_full_path())
    except HookRejected as exc:
        log.info("hook.rejected", connector=connector.name, kind=kind, status=exc.status)
        return json_error(exc.status, "hook_rejected", exc.message)
    applied = unknown = replies = 0
    if result.updates:
        outcome = messages_apply_status(connector_name=connector.name, updates=result.updates)
        applied, unknown = outcome.applied, outcome.unknown
    if result.inbound:
        replies = replies_receive(connector=connector, messages=result.inbound)
    log.info("hook.received", connector=connector.name, kind=kind, applied=applied, unknown=unknown, replies=replies)
    if result.response is not None:
        return result.response
    return JsonResponse({"ok": True, "applied": applied, "unknown": unknown, "replies": replies})
