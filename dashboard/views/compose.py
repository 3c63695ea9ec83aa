"""The compose wizard: audience → content → schedule → review (the precheck) → send.

Every step is one HTML form, so it works with JavaScript off; the review step calls
`broadcast_precheck` and the Send button `broadcast_create` with the same body the API takes. The
segment counter is a fragment computed by `templates_app.encoding`, asked for by htmx as the user
types (debounced): there is no second counter in JavaScript. The form's fields and how they become
the create body are in `dashboard/compose_form.py`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.channels import Channel
from accounts.exceptions import HeraldError
from broadcasts import services
from broadcasts.models import Broadcast, Sender
from broadcasts.plan_checks import NO_VALID_RECIPIENTS, REFUSING_WARNINGS
from contacts.selectors import contact_list_queryset
from dashboard import selectors
from dashboard.access import MANAGER, Member, member_required
from dashboard.compose_ab import METRIC_CHOICES, UNITS, ab_review_context, ab_rows
from dashboard.compose_campaigns import FREQUENCIES, IF_PASSED_CHOICES, WEEKDAYS, split_errors
from dashboard.compose_form import (
    body_from,
    counter,
    form_from,
    language_choices,
    version_text,
    versions,
    with_new_version,
    with_version_text,
    without_version,
)
from dashboard.recipient_files import RecipientFileError, parse_recipients
from templates_app import encoding
from templates_app.rendering import BUILTINS
from templates_app.selectors import template_list
from wallets.selectors import wallet_get

from . import campaigns
from .common import error_text, page

# Steps that only redraw the form (nothing is checked or created): "smart:<version>" uses the
# smart-encoded text of one version, "translit:<version>" its transliterated text (SPEC §6),
# "drop_language:<version>" removes a translation.
REDRAW_STEPS = ("edit", "add_language", "drop_upload")
NOT_CARRIED = ("step", "csrfmiddlewaretoken", "add_contact", "contact_q")


def _field_errors(exc: Exception) -> dict[str, list[str]]:
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        return dict(exc.message_dict)
    if isinstance(exc, HeraldError):
        return exc.fields
    return {}


def _index(value: str) -> int:
    return int(value) if value.isdigit() else 0


def _form_context(member: Member, form: QueryDict | None) -> dict[str, Any]:
    client = member.client
    values = form if form is not None else QueryDict(mutable=True)
    found = versions(values)
    uploaded = values.get("uploaded_recipients", "").splitlines()
    return {
        "form": values,
        "selected_lists": values.getlist("contact_lists"),
        "selected_excludes": values.getlist("exclude_lists"),
        "lists": contact_list_queryset(client=client).order_by("name")[:500],
        "templates": template_list(client=client).filter(status="approved").order_by("name")[:500],
        "senders": Sender.objects.filter(client=client).order_by("sender"),
        "channels": Channel.choices,
        "variables": [*BUILTINS, *selectors.contact_field_names(client=client)],
        "main": found[0],
        "translations": found[1:],
        "base_version": _index(values.get("base_version", "0")),
        "languages": language_choices(),
        "counter": found[0].counter,
        "text": found[0].text,
        "uploaded_count": len([line for line in uploaded if line.strip()]),
        "chosen_contacts": selectors.contacts_chosen(client=client, ids=values.getlist("contacts")),
        "contact_q": values.get("contact_q", ""),
        "contact_results": selectors.contact_picker_search(client=client, term=values.get("contact_q", "")),
        "optimize_default": form is None or values.get("optimize_text") == "on",
        "transliterate_default": values.get("transliterate") == "on",
        "follow_up_of": _followed_up(member, values),
        "follow_up_choices": list(services.FOLLOW_UP_LABELS.items()),
        # Repeat and local time (dashboard/compose_campaigns.py): a series' zone defaults to the user's.
        "frequencies": FREQUENCIES,
        "weekdays": WEEKDAYS,
        "repeat_days": values.getlist("repeat_days"),
        "if_passed_choices": IF_PASSED_CHOICES,
        "time_zones": sorted(available_timezones()),
        # A/B test (dashboard/compose_ab.py): five text-and-share slots, the metric, the wait.
        "ab_slots": ab_rows(values),
        "ab_metrics": METRIC_CHOICES,
        "ab_units": [(key, words) for key, words, _code in UNITS],
    }


def _redraw(request: HttpRequest, member: Member, form: QueryDict, status: int = 200, **extra: Any) -> HttpResponse:
    context = _form_context(member, form)
    context.update(extra)
    context.update(split_errors(context.get("field_errors") or {}))
    return page(request, member, "dashboard/compose/form.html", context, status=status)


def _with_upload(request: HttpRequest, form: QueryDict) -> QueryDict:
    """The uploaded file's recipients, parsed once, replace any earlier file's; they travel on as
    the `uploaded_recipients` field. Raises RecipientFileError for a file that cannot be read."""
    upload = request.FILES.get("recipients_file")
    if upload is None:
        return form
    values = parse_recipients(upload.name or "", upload.read())
    form["uploaded_recipients"] = "\n".join(values)
    form["uploaded_name"] = upload.name or ""
    return form


def _redraw_step(form: QueryDict, step: str) -> QueryDict | None:
    """The form a redraw-only step asks for, or None when the step is not one."""
    added = form.get("add_contact", "")
    if added:
        form.setlist("contacts", [*form.getlist("contacts"), added])
        return form
    if step.startswith("smart"):
        index = _index(step.partition(":")[2])
        return with_version_text(form, index, encoding.optimize_text(version_text(form, index)))
    if step.startswith("translit"):
        index = _index(step.partition(":")[2])
        return with_version_text(form, index, encoding.optimize_text(version_text(form, index), transliterate=True))
    if step.startswith("drop_language:"):
        return without_version(form, _index(step.partition(":")[2]))
    if step == "add_language":
        return with_new_version(form)
    if step == "drop_upload":
        form.pop("uploaded_recipients", None)
        form.pop("uploaded_name", None)
        return form
    if step in REDRAW_STEPS:
        return form
    return None


@require_http_methods(["GET", "POST"])
@member_required(MANAGER)
def compose(request: HttpRequest, member: Member) -> HttpResponse:
    """GET: the empty wizard. POST `step=review`: the precheck; `step=send`: create the broadcast;
    any other step redraws the form (smart text, a translation added or removed, a contact added,
    the uploaded file dropped, back to edit)."""
    if request.method == "GET":
        return page(request, member, "dashboard/compose/form.html", _form_context(member, None))
    form = request.POST.copy()
    step = form.get("step", "review")
    try:
        form = _with_upload(request, form)
    except RecipientFileError as exc:
        return _redraw(request, member, form, 400, error=str(exc), field_errors={"recipients_file": [str(exc)]})
    redrawn = _redraw_step(form, step)
    if redrawn is not None:
        return _redraw(request, member, redrawn)
    editing = _edited(member, form)
    follow_up = _followed_up(member, form)
    try:
        body = body_from(form, member.client, member.zone)
        if follow_up is not None:
            # A follow-up (the original's "Follow up"): its audience is the choice, never the form's.
            for key in (*AUDIENCE_FIELDS, "recipient_variables"):
                body.pop(key, None)
            body["audience"] = form.get("follow_up_audience", "")
            if step == "send":
                accepted = services.broadcast_follow_up(original=follow_up, data=body, user=member.user)
                return redirect("dashboard:broadcast_detail", broadcast_id=accepted.broadcast.pk)
        if step == "send" and editing is not None:
            # An edit of a draft or scheduled broadcast (its detail page's "Edit or reschedule"):
            # the same service as PATCH; the audience fields the form left empty are emptied.
            patch = campaigns.edit_patch(editing, body, member.client)
            for key in AUDIENCE_FIELDS:
                patch.setdefault(key, [])
            services.broadcast_update(broadcast=editing, patch=patch)
            return redirect("dashboard:broadcast_detail", broadcast_id=editing.pk)
        if step == "send":
            accepted = services.broadcast_create(client=member.client, data=body, user=member.user)
            return redirect("dashboard:broadcast_detail", broadcast_id=accepted.broadcast.pk)
        if follow_up is not None:
            precheck = services.broadcast_follow_up_precheck(original=follow_up, data=body)
        else:
            precheck = services.broadcast_precheck(client=member.client, data=body)
    except (HeraldError, ValidationError) as exc:
        return _redraw(request, member, form, 400, error=error_text(exc), field_errors=_field_errors(exc))
    passed = campaigns.local_time_refusal(body, precheck)
    if passed:  # "refuse" where the local time has passed: said on its field, as the create would
        return _redraw(request, member, form, 400, error=passed, field_errors={"local_time": [passed]})
    hidden = [(key, value) for key in form for value in form.getlist(key) if key not in NOT_CARRIED]
    # Send is offered only when the create would accept it: the same rules, read off the precheck.
    refusals = [w["message"] for w in precheck["warnings"] if w["code"] in REFUSING_WARNINGS]
    if not precheck["total_contacts"]:
        refusals.append(NO_VALID_RECIPIENTS)
    # An edit gives back its own reservation before reserving again, which the precheck (a new
    # broadcast's view) cannot count: there the service decides on Save.
    # A series reserves nothing now: each run is quoted and reserved at its time (the review says so).
    series = body.get("schedule_mode") == Broadcast.ScheduleMode.RECURRING
    if not precheck["sufficient_balance"] and editing is None and not series:
        refusals.append("The wallet does not hold enough credit for this broadcast.")
    texts = body.get("text")
    return page(
        request,
        member,
        "dashboard/compose/review.html",
        {
            "precheck": precheck,
            "refusals": refusals,
            "editing": editing,
            "texts": sorted(texts.items()) if isinstance(texts, dict) else [("", texts)] if texts else [],
            "scheduled_at": _parsed(body.get("scheduled_at")),
            "body": body,
            "hidden": hidden,
            "wallet": wallet_get(client=member.client),
            "uploaded_name": form.get("uploaded_name", ""),
            "follow_up_of": follow_up,
            "follow_up_label": services.FOLLOW_UP_LABELS.get(form.get("follow_up_audience", ""), ""),
            **campaigns.review_context(body, precheck, member),
            **ab_review_context(body, precheck),
        },
    )


AUDIENCE_FIELDS = ("recipients", "contacts", "contact_lists", "exclude_lists")


def _edited(member: Member, form: QueryDict) -> Broadcast | None:
    """The broadcast this form edits (`edit_of`), the member's client's only."""
    raw = form.get("edit_of", "")
    return selectors.broadcast_for(client=member.client, broadcast_id=raw) if raw else None


@require_GET
@member_required(MANAGER)
def broadcast_duplicate(request: HttpRequest, member: Member, broadcast_id: object) -> HttpResponse:
    """The compose form filled from a broadcast's own create body, to send again as a new one (now,
    whatever its schedule was: the manager picks again)."""
    broadcast = selectors.broadcast_for(client=member.client, broadcast_id=broadcast_id)
    form = form_from(_body_of(broadcast), member.zone)
    form["name"] = f"Copy of {broadcast.name}"[:255]
    form["schedule_mode"] = Broadcast.ScheduleMode.NOW
    form.pop("scheduled_at", None)
    return _redraw(request, member, form, duplicate_of=broadcast)


def _followed_up(member: Member, form: QueryDict) -> Broadcast | None:
    """The broadcast this form follows up (`follow_up_of`), the member's client's only."""
    raw = form.get("follow_up_of", "")
    return selectors.broadcast_for(client=member.client, broadcast_id=raw) if raw else None


@require_GET
@member_required(MANAGER)
def broadcast_follow_up(request: HttpRequest, member: Member, broadcast_id: object) -> HttpResponse:
    """The compose form for a follow-up of a finished broadcast (its detail page's "Follow up"): its
    content, sender and options to start from, and instead of an audience the choice of which of its
    recipients (not clicked, not delivered, …); the review and Send go through the follow-up service."""
    broadcast = selectors.broadcast_for(client=member.client, broadcast_id=broadcast_id)
    form = form_from(services.request_data(broadcast), member.zone)
    for key in ("recipients", "contacts", "contact_lists", "exclude_lists"):
        form.pop(key, None)
    form["name"] = f"Follow-up of {broadcast.name}"[:255]
    form["schedule_mode"] = Broadcast.ScheduleMode.NOW
    form.pop("scheduled_at", None)
    form["follow_up_of"] = str(broadcast.pk)
    form["follow_up_audience"] = "not_clicked" if broadcast.track_links else "not_delivered"
    return _redraw(request, member, form)


@require_GET
@member_required(MANAGER)
def broadcast_edit(request: HttpRequest, member: Member, broadcast_id: object) -> HttpResponse:
    """The compose form filled from a draft or scheduled broadcast, to change or reschedule it; the
    review's Send saves the edit (broadcast_update decides whether it still may be edited)."""
    broadcast = selectors.broadcast_for(client=member.client, broadcast_id=broadcast_id)
    form = form_from(_body_of(broadcast), member.zone)
    form["edit_of"] = str(broadcast.pk)
    return _redraw(request, member, form, editing=broadcast)


def _body_of(broadcast: Broadcast) -> dict[str, Any]:
    """The create body of a broadcast, with a series' recurrence (its edit keeps the mode)."""
    body = services.request_data(broadcast)
    if broadcast.recurrence:
        body["recurrence"] = broadcast.recurrence
    return body


def _parsed(value: object) -> datetime | None:
    """The body's scheduled_at as a datetime, for the review to show in the user's zone."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@require_POST
@member_required(MANAGER)
def compose_counter(request: HttpRequest, member: Member) -> HttpResponse:
    """The segment counter of the version being edited (htmx, debounced as the user types):
    `edit=0` (or none) counts `text`, `edit=N` the Nth translation's `tr_text`."""
    index = _index(request.POST.get("edit", "0"))
    if index == 0:
        text = request.POST.get("text", "")
    else:
        texts = request.POST.getlist("tr_text")
        text = texts[index - 1] if index <= len(texts) else ""
    context = {"counter": counter(text), "version": index}
    return page(request, member, "dashboard/compose/_counter.html", context)


@require_GET
@member_required(MANAGER)
def compose_contact_search(request: HttpRequest, member: Member) -> HttpResponse:
    """The contact picker's matches for `contact_q` (htmx, debounced), each with an Add button."""
    term = request.GET.get("contact_q", "").strip()
    results = selectors.contact_picker_search(client=member.client, term=term)
    return page(
        request, member, "dashboard/compose/_contact_results.html", {"contact_results": results, "contact_q": term}
    )


@require_GET
@member_required(MANAGER)
def compose_contact_pick(request: HttpRequest, member: Member) -> HttpResponse:
    """One chosen contact (htmx appends it to the chosen list): its `contacts` checkbox, ticked."""
    chosen = selectors.contacts_chosen(client=member.client, ids=[request.GET.get("id", "")])
    if not chosen:
        raise Http404("No such contact.")
    return page(request, member, "dashboard/compose/_chosen_contact.html", {"contact": chosen[0]})
