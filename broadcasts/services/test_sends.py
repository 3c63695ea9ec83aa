"""Test sends: the rendered message to a few numbers now, outside the broadcast's stats, through
the broadcast's own send path (claim → send → record) and its reservation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import ConflictError
from contacts import phones
from contacts.selectors import contacts_by_phones

from .. import queue
from ..audience import Target, channel_urn
from ..models import Broadcast, Message
from ..planning import Planner
from ..states import ACTIONS
from ..validation import parse_broadcast_request
from ..whatsapp_window import SKIP_WINDOW_CLOSED
from ..writing import messages_write
from .context import plan_context
from .request import request_data
from .reserve import reserve_after_checks

log = structlog.get_logger(__name__)

M = Message.Status
MAX_TEST_RECIPIENTS = 10


def broadcast_test(*, broadcast: Broadcast, recipients: Any) -> list[Message]:
    """Send the rendered message to a few numbers now, outside the broadcast's stats."""
    if not isinstance(recipients, list) or not recipients:
        raise ValidationError({"recipients": ["Give a list of 1 to 10 phone numbers or URNs."]})
    if len(recipients) > MAX_TEST_RECIPIENTS:
        raise ValidationError({"recipients": [f"At most {MAX_TEST_RECIPIENTS} test recipients."]})
    test = ACTIONS["test"]  # the table every door asks (the dashboard offers the button from it)
    if broadcast.status not in test.sources:
        raise ConflictError(test.describe)
    client = broadcast.client
    errors: dict[str, list[str]] = {}
    targets: list[Target] = []
    for index, value in enumerate(recipients):
        try:
            urn = phones.parse_urn(value, client.country)
        except (phones.AddressError, TypeError):
            errors[f"recipients.{index}"] = [f"'{value}' is not a valid phone number or URN."]
            continue
        resolved = channel_urn(broadcast.channel, urn)
        if resolved is None:
            errors[f"recipients.{index}"] = [f"'{value}' cannot be reached on {broadcast.channel}."]
            continue
        targets.append(Target(urn=resolved[0], address=resolved[1]))
    if errors:
        raise ValidationError(errors)
    contacts = contacts_by_phones(client=client, phones=[t.address for t in targets if t.address.startswith("+")])
    for target in targets:
        contact = contacts.get(target.address)
        if contact is not None:
            target.fill_from(contact)
            target.opted_out = False  # a test send goes to whoever the sender chose
    data = request_data(broadcast)
    data["schedule_mode"] = Broadcast.ScheduleMode.NOW
    data.pop("scheduled_at", None)
    data.pop("drip_rate", None)
    data.pop("local_time", None)  # a test goes now, whatever its recipients' local time
    request = parse_broadcast_request(data)
    context, _ = plan_context(client=client, request=request, now=timezone.now())
    planner = Planner(context)
    rows = planner.plan_chunk(targets)
    # WhatsApp free text goes only inside the 24-hour window (whatsapp_window.py), tests too: Meta
    # would refuse them.
    closed = [r.urn for r in rows if r.status == M.SKIPPED and r.error_code == SKIP_WINDOW_CLOSED]
    unroutable = [r.urn for r in rows if r.status == M.SKIPPED and r.error_code != SKIP_WINDOW_CLOSED]
    if unroutable or closed:
        problems = [f"No route for: {', '.join(unroutable)}."] if unroutable else []
        if closed:
            problems.append(
                f"Not written to this WhatsApp number in the last 24 hours, so free text cannot reach them: "
                f"{', '.join(closed)}. Test with an approved template, or write from those numbers first."
            )
        raise ValidationError({"recipients": problems})
    now = timezone.now()
    total = sum((r.cost for r in rows), Decimal(0))
    for row in rows:
        row.status = M.QUEUED  # a test goes now, whatever the broadcast's schedule or quiet hours
    with transaction.atomic():
        # The broadcast's own writer: short links included (a test shows the message as sent).
        ids = messages_write(broadcast, rows, now=now, is_test=True)
        if total > 0:
            reserve_after_checks(wallet=context.wallet, amount=total, broadcast_id=broadcast.pk, note="Test send")
        messages = list(Message.objects.filter(pk__in=ids).order_by("pk"))
    transaction.on_commit(lambda: queue.send_tests(broadcast.pk, ids))
    log.info("broadcast.test_sent", broadcast_id=str(broadcast.pk), recipients=len(ids))
    return messages
