"""Contacts: search, lists, imports with a live progress bar and their row errors."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from contacts import services as contact_services
from contacts.imports.services import contact_import_create
from contacts.models import OptOutSource
from contacts.selectors import contact_import_queryset, contact_list_queryset, contact_queryset, contact_search
from dashboard import selectors
from dashboard.access import MANAGER, Member, member_required

from .common import PAGE_SIZE, attempt, offset, page

IMPORT_POLL_SECONDS = 2


def _filters(query: QueryDict, *, with_offset: bool = False) -> str:
    """The search's filters as a query string: what the pager and the opt-out buttons carry, so a
    next page or an opt-out keeps the search (the offset too, for going back after an opt-out)."""
    keys = ("q", "opted_out", "offset") if with_offset else ("q", "opted_out")
    return urlencode({key: query.get(key, "").strip() for key in keys if query.get(key, "").strip()})


@require_GET
@member_required()
def contact_list_view(request: HttpRequest, member: Member) -> HttpResponse:
    term = request.GET.get("q", "").strip()
    queryset = contact_queryset(client=member.client)
    if term:
        queryset = contact_search(queryset, term)
    if request.GET.get("opted_out") == "1":
        queryset = queryset.filter(opted_out=True)
    start = offset(request)
    rows = list(queryset.order_by("-created_at", "-id")[start : start + PAGE_SIZE + 1])
    return page(
        request,
        member,
        "dashboard/contacts/list.html",
        {
            "contacts": rows[:PAGE_SIZE],
            "q": term,
            "opted_out": request.GET.get("opted_out") == "1",
            "filters": _filters(request.GET),
            "offset": start,
            "next_offset": start + PAGE_SIZE if len(rows) > PAGE_SIZE else None,
            "prev_offset": max(start - PAGE_SIZE, 0) if start else None,
        },
    )


# URL word → (service, the message once done). The dashboard is the opt-out's recorded source.
OPT_ACTIONS = {
    "opt-out": (contact_services.contact_opt_out, "{name} is opted out: no broadcast reaches them."),
    "opt-in": (contact_services.contact_opt_in, "{name} is opted back in."),
}


@require_POST
@member_required(write_role=MANAGER)
def contact_opt(request: HttpRequest, member: Member, contact_id: object, action: str) -> HttpResponse:
    """A manager opts a contact out (or back in) from the contacts page, through the service the
    API uses; back to the same search."""
    contact = selectors.contact_for(client=member.client, contact_id=contact_id)
    service, done = OPT_ACTIONS[action]
    attempt(
        request,
        lambda: service(contact=contact, source=OptOutSource.DASHBOARD),
        done.format(name=contact.name or contact.phone or contact.telegram_chat_id),
    )
    back = _filters(QueryDict(request.POST.get("back", "")), with_offset=True)
    return redirect(reverse("dashboard:contacts") + (f"?{back}" if back else ""))


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def contact_lists(request: HttpRequest, member: Member) -> HttpResponse:
    if request.method == "POST":
        name = request.POST.get("name", "")
        attempt(
            request,
            lambda: contact_services.contact_list_create(client=member.client, name=name),
            f"List “{name.strip()}” created.",
        )
        return redirect("dashboard:contact_lists")
    lists = contact_list_queryset(client=member.client).order_by("name")
    return page(request, member, "dashboard/contacts/lists.html", {"lists": lists})


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def contact_imports(request: HttpRequest, member: Member) -> HttpResponse:
    """GET: the upload form and recent imports. POST: the file goes to `contact_import_create`,
    which checks it and queues the job; the page then follows its progress."""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            from django.contrib import messages

            messages.error(request, "Choose a CSV or XLSX file to import.")
            return redirect("dashboard:contact_imports")
        list_name = request.POST.get("list_name", "").strip() or None
        job = attempt(
            request,
            lambda: contact_import_create(
                client=member.client,
                file=upload,
                file_name=upload.name or "",
                list_name=list_name,
                update_existing=request.POST.get("update_existing") == "on",
            ),
            "Import queued.",
        )
        if job is None:
            return redirect("dashboard:contact_imports")
        return redirect("dashboard:contact_import_detail", import_id=job.pk)
    jobs = contact_import_queryset(client=member.client).select_related("contact_list")[:20]
    return page(request, member, "dashboard/contacts/imports.html", {"jobs": jobs})


def _import_context(job: object) -> dict[str, object]:
    total = getattr(job, "total_rows", 0) or 0
    processed = getattr(job, "processed_rows", 0) or 0
    return {
        "job": job,
        "percent": round(processed / total * 100, 1)
        if total
        else (100 if getattr(job, "status", "") == "completed" else 0),
        "live": getattr(job, "status", "") in ("pending", "processing"),
        "poll_seconds": IMPORT_POLL_SECONDS,
    }


@require_GET
@member_required()
def contact_import_detail(request: HttpRequest, member: Member, import_id: object) -> HttpResponse:
    job = selectors.contact_import_for(client=member.client, import_id=import_id)
    return page(request, member, "dashboard/contacts/import_detail.html", _import_context(job))


@require_GET
@member_required()
def contact_import_progress(request: HttpRequest, member: Member, import_id: object) -> HttpResponse:
    job = selectors.contact_import_for(client=member.client, import_id=import_id)
    return page(request, member, "dashboard/contacts/_import_progress.html", _import_context(job))
