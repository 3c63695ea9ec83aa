"""Templates, wallet, replies and link tracking: the client's other pages."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.channels import Channel
from accounts.services import membership_set_timezone
from broadcasts.selectors import broadcast_list, reply_list
from dashboard import selectors
from dashboard.access import MANAGER, VIEWER, Member, member_required
from templates_app import services as template_services
from templates_app.models import Template
from templates_app.selectors import template_get, template_list
from tracking.selectors import link_list
from wallets.selectors import ledger_entry_list, price_list, wallet_get

from .common import PAGE_SIZE, attempt, link_row, offset, page


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def templates(request: HttpRequest, member: Member) -> HttpResponse:
    form = request.POST if request.method == "POST" else None
    if form is not None:
        created = attempt(
            request,
            lambda: template_services.template_create(
                client=member.client,
                name=form.get("name", ""),
                content=form.get("content", ""),
                channel=form.get("channel") or Channel.SMS,
                language=form.get("language") or "eng",
                category=form.get("category") or Template.Category.MARKETING,
            ),
            "Template created.",
        )
        if created is not None:
            return redirect("dashboard:templates")
    return page(
        request,
        member,
        "dashboard/templates/list.html",
        {
            "templates": template_list(client=member.client)[:200],
            "channels": Channel.choices,
            "categories": Template.Category.choices,
            "form": form or {},
        },
        status=400 if form is not None else 200,
    )


@require_POST
@member_required(MANAGER)
def template_submit(request: HttpRequest, member: Member, template_id: object) -> HttpResponse:
    template = template_get(client=member.client, template_id=str(template_id))
    if template is None:
        raise Http404("No such template.")
    attempt(request, lambda: template_services.template_submit(template=template), "Submitted for WhatsApp approval.")
    return redirect("dashboard:templates")


@require_GET
@member_required()
def wallet(request: HttpRequest, member: Member) -> HttpResponse:
    start = offset(request)
    entries = list(
        ledger_entry_list(client=member.client).order_by("-created_at", "-id")[start : start + PAGE_SIZE + 1]
    )
    return page(
        request,
        member,
        "dashboard/wallet.html",
        {
            "wallet": wallet_get(client=member.client),
            "entries": entries[:PAGE_SIZE],
            "next_offset": start + PAGE_SIZE if len(entries) > PAGE_SIZE else None,
            "prices": price_list(client=member.client).order_by("channel", "country_code", "prefix", "tier")[:500],
        },
    )


@require_GET
@member_required()
def replies(request: HttpRequest, member: Member) -> HttpResponse:
    start = offset(request)
    rows = list(reply_list(client=member.client).select_related("broadcast")[start : start + PAGE_SIZE + 1])
    return page(
        request,
        member,
        "dashboard/replies.html",
        {"replies": rows[:PAGE_SIZE], "next_offset": start + PAGE_SIZE if len(rows) > PAGE_SIZE else None},
    )


@require_GET
@member_required()
def tracking(request: HttpRequest, member: Member) -> HttpResponse:
    """The client's tracked links, newest first (optionally one broadcast's), with their counters."""
    queryset = link_list(client=member.client).order_by("-created_at", "-id")
    broadcast = request.GET.get("broadcast", "").strip()
    if broadcast:
        chosen = selectors.broadcast_for(client=member.client, broadcast_id=broadcast)
        queryset = queryset.filter(broadcast_id=chosen.pk)
    start = offset(request)
    links = list(queryset[start : start + PAGE_SIZE + 1])
    names = dict(
        broadcast_list(client=member.client)
        .filter(pk__in={link.broadcast_id for link in links})
        .values_list("id", "name")
    )
    return page(
        request,
        member,
        "dashboard/tracking.html",
        {
            "rows": [link_row(link, names.get(link.broadcast_id, "")) for link in links[:PAGE_SIZE]],
            "broadcast": broadcast,
            "next_offset": start + PAGE_SIZE if len(links) > PAGE_SIZE else None,
            "prev_offset": max(start - PAGE_SIZE, 0) if start else None,
        },
    )


@require_GET
@member_required()
def tracking_link(request: HttpRequest, member: Member, link_id: object) -> HttpResponse:
    """One link: its counters and its clicks, newest first; a person's click names the recipient."""
    link = selectors.link_for(client=member.client, link_id=link_id)
    start = offset(request)
    rows = selectors.click_rows(client=member.client, link=link, start=start, limit=PAGE_SIZE + 1)
    name = broadcast_list(client=member.client).filter(pk=link.broadcast_id).values_list("name", flat=True).first()
    return page(
        request,
        member,
        "dashboard/tracking_link.html",
        {
            **link_row(link, name or ""),
            "clicks": rows[:PAGE_SIZE],
            "next_offset": start + PAGE_SIZE if len(rows) > PAGE_SIZE else None,
            "prev_offset": max(start - PAGE_SIZE, 0) if start else None,
        },
    )


@require_http_methods(["GET", "POST"])
@member_required(VIEWER)
def time_zone(request: HttpRequest, member: Member) -> HttpResponse:
    """The user's own time zone for every time the dashboard shows (any role may set their own).
    GET (the address typed, or reloaded) goes to the form on the settings page, not a blank 405."""
    if request.method == "GET":
        return redirect(reverse("dashboard:settings") + "#zone-title")
    zone = request.POST.get("timezone", "").strip()
    done = f"Times are now shown in {zone}." if zone else "Times are now shown in the client's time zone."
    attempt(request, lambda: membership_set_timezone(membership=member.membership, zone=zone), done)
    return redirect("dashboard:settings")
