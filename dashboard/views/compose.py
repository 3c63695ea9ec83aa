"""The compose wizard: audience → content → schedule → review (the precheck) → send.

Every step is one HTML form, so it works with JavaScript off; the review step calls
`broadcast_precheck` and the Send button `broadcast_create` with the same body the API takes. The
segment counter is a fragment computed by `templates_app.encoding`, asked for by htmx as the user
types (debounced): there is no second counter in JavaScript."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods, require_POST

from accounts.channels import Channel
from accounts.exceptions import HeraldError
from broadcasts import services
from broadcasts.models import Broadcast, Sender
from contacts.selectors import contact_list_queryset
from dashboard import selectors
from dashboard.access import MANAGER, Member, member_required
from templates_app import encoding
from templates_app.rendering import BUILTINS
from templates_app.selectors import template_list
from wallets.selectors import wallet_get

from .common import error_text, page

LIST_FIELDS = ("contact_lists", "exclude_lists")
BOOL_FIELDS = ("optimize_text", "track_links")


def counter(text: str) -> dict[str, Any]:
    """What the counter shows, all from `templates_app.encoding`: encoding, parts, characters left
    in the current part, the characters that force UCS-2, and the smart-encoded text if it helps."""
    info = encoding.analyze(text)
    parts = encoding.split_segments(text)
    if info.encoding == encoding.GSM7:
        limit = encoding.GSM_SINGLE_LIMIT if info.segments <= 1 else encoding.GSM_PART_LIMIT
    else:
        limit = encoding.UCS2_SINGLE_LIMIT if info.segments <= 1 else encoding.UCS2_PART_LIMIT
    used = encoding.analyze(parts[-1]).length if parts else 0
    optimized = encoding.optimize_text(text)
    return {
        "info": info,
        "encoding_label": "GSM-7" if info.encoding == encoding.GSM7 else "UCS-2",
        "left": limit - used,
        "optimized": optimized if optimized != text else "",
        "optimized_info": encoding.analyze(optimized) if optimized != text else None,
    }


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


def body_from(form: QueryDict, member: Member) -> dict[str, Any]:
    """The API's create body from the wizard's fields (parsing only: the service validates)."""
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "channel": form.get("channel") or Channel.SMS,
        "purpose": form.get("purpose") or Broadcast.Purpose.MARKETING,
        "schedule_mode": form.get("schedule_mode") or Broadcast.ScheduleMode.NOW,
    }
    recipients = _lines(form.get("recipients", ""))
    if recipients:
        body["recipients"] = recipients
    contacts = form.getlist("contacts")
    if contacts:
        body["contacts"] = contacts
    for field in LIST_FIELDS:
        values = form.getlist(field)
        if values:
            body[field] = values
    if form.get("content_mode") == "template":
        body["template"] = form.get("template", "")
    else:
        body["text"] = form.get("text", "")
    if form.get("sender"):
        body["sender"] = form["sender"]
    for field in BOOL_FIELDS:
        body[field] = form.get(field) == "on"
    if body["schedule_mode"] == Broadcast.ScheduleMode.SCHEDULED and form.get("scheduled_at"):
        # A datetime-local field has no zone: it is the client's local time (docs/dashboard.md).
        try:
            local = datetime.fromisoformat(form.get("scheduled_at", ""))
            zone = ZoneInfo(member.client.timezone or "UTC")
            body["scheduled_at"] = local.replace(tzinfo=zone).isoformat()
        except ValueError:
            body["scheduled_at"] = form.get("scheduled_at", "")
    if body["schedule_mode"] == Broadcast.ScheduleMode.DRIP:
        raw = form.get("drip_rate", "")
        body["drip_rate"] = int(raw) if raw.strip().isdigit() else raw
    return body


def _field_errors(exc: Exception) -> dict[str, list[str]]:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return dict(exc.message_dict)
    if isinstance(exc, HeraldError):
        return exc.fields
    return {}


def _form_context(member: Member, form: QueryDict | None) -> dict[str, Any]:
    client = member.client
    values = form if form is not None else QueryDict(mutable=True)
    text = values.get("text", "")
    return {
        "form": values,
        "selected_lists": values.getlist("contact_lists"),
        "selected_excludes": values.getlist("exclude_lists"),
        "lists": contact_list_queryset(client=client).order_by("name")[:500],
        "templates": template_list(client=client).filter(status="approved").order_by("name")[:500],
        "senders": Sender.objects.filter(client=client).order_by("sender"),
        "channels": Channel.choices,
        "variables": [*BUILTINS, *selectors.contact_field_names(client=client)],
        "counter": counter(text),
        "text": text,
        "optimize_default": form is None or values.get("optimize_text") == "on",
    }


@require_http_methods(["GET", "POST"])
@member_required(MANAGER)
def compose(request: HttpRequest, member: Member) -> HttpResponse:
    """GET: the empty wizard. POST `step=smart`: the same form with the smart-encoded text;
    `step=review`: the precheck; `step=send`: create the broadcast; `step=edit`: back to the form."""
    if request.method == "GET":
        return page(request, member, "dashboard/compose/form.html", _form_context(member, None))
    form = request.POST.copy()
    step = form.get("step", "review")
    if step == "smart":
        form["text"] = encoding.optimize_text(form.get("text", ""))
    if step in ("smart", "edit"):
        return page(request, member, "dashboard/compose/form.html", _form_context(member, form))
    body = body_from(form, member)
    try:
        if step == "send":
            accepted = services.broadcast_create(client=member.client, data=body, user=member.user)
            return redirect("dashboard:broadcast_detail", broadcast_id=accepted.broadcast.pk)
        precheck = services.broadcast_precheck(client=member.client, data=body)
    except (HeraldError, ValidationError) as exc:
        context = _form_context(member, form)
        context.update({"error": error_text(exc), "field_errors": _field_errors(exc)})
        return page(request, member, "dashboard/compose/form.html", context, status=400)
    hidden = [(key, value) for key in form for value in form.getlist(key) if key not in ("step", "csrfmiddlewaretoken")]
    return page(
        request,
        member,
        "dashboard/compose/review.html",
        {"precheck": precheck, "body": body, "hidden": hidden, "wallet": wallet_get(client=member.client)},
    )


@require_POST
@member_required(MANAGER)
def compose_counter(request: HttpRequest, member: Member) -> HttpResponse:
    """The segment counter fragment (htmx, debounced as the user types)."""
    return page(request, member, "dashboard/compose/_counter.html", {"counter": counter(request.POST.get("text", ""))})
