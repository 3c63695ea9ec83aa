"""Contacts: search, add, a contact's page (edit, delete), lists (members, rename, delete),
imports with a live progress bar and their row errors.

Every write goes through `contacts.services`, the API's services: the dashboard adds no rule of
its own, and a service's refusal is shown on the page in its words (`attempt`)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from contacts import services as contact_services
from contacts.imports.services import contact_import_create
from contacts.models import Contact, ContactList, OptOutSource
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


def _who(contact: Contact) -> str:
    return contact.name or contact.phone or contact.telegram_chat_id or str(contact.pk)


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def contact_list_view(request: HttpRequest, member: Member) -> HttpResponse:
    """GET: the search. POST: "Add contact" (phone, names) through `contact_create`; to the new
    contact's page, or back to the search with the service's refusal."""
    if request.method == "POST":
        post = request.POST
        contact = attempt(
            request,
            lambda: contact_services.contact_create(
                client=member.client,
                phone=post.get("phone", ""),
                first_name=post.get("first_name", ""),
                last_name=post.get("last_name", ""),
            ),
            "Contact added.",
        )
        if contact is None:
            return redirect("dashboard:contacts")
        return redirect("dashboard:contact_detail", contact_id=contact.pk)
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


@require_http_methods(["GET", "POST"])
@member_required(MANAGER)
def contact_opt(request: HttpRequest, member: Member, contact_id: object, action: str) -> HttpResponse:
    """A manager opts a contact out (or back in) from the contacts page, through the service the
    API uses; back to the same search. Opting out asks first (GET): the contact then gets no
    marketing until they or a manager opt back in."""
    contact = selectors.contact_for(client=member.client, contact_id=contact_id)
    service, done = OPT_ACTIONS[action]
    if request.method == "GET":
        back = request.GET.get("back", "")
        name = contact.name or contact.phone or contact.telegram_chat_id
        return page(
            request,
            member,
            "dashboard/confirm.html",
            {
                "title": f"Opt {name} out?",
                "question": f"{name} will receive no marketing broadcasts until opted back in.",
                "button": "Opt out",
                "back": reverse("dashboard:contacts") + (f"?{back}" if back else ""),
                "hidden": [("back", back)],
            },
        )
    attempt(
        request,
        lambda: service(contact=contact, source=OptOutSource.DASHBOARD),
        done.format(name=contact.name or contact.phone or contact.telegram_chat_id),
    )
    back = _filters(QueryDict(request.POST.get("back", "")), with_offset=True)
    return redirect(reverse("dashboard:contacts") + (f"?{back}" if back else ""))


def fields_text(fields: dict[str, object]) -> str:
    """A contact's fields as the edit form shows them: `key=value`, a line each, by key."""
    return "\n".join(f"{key}={value}" for key, value in sorted(fields.items()))


def parse_fields(text: str) -> dict[str, str]:
    """The edit form's `key=value` lines as a fields object (blank lines skipped; the service
    checks keys and values). A line without `=` is a ValidationError."""
    fields: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValidationError(f"Fields: line {number} is not key=value.", code="invalid")
        fields[key.strip()] = value.strip()
    return fields


def _contact_page(
    request: HttpRequest, member: Member, contact: Contact, form: dict[str, str] | None = None
) -> HttpResponse:
    lists = contact_list_queryset(client=member.client).filter(memberships__contact=contact).order_by("name")
    initial = {
        "phone": contact.phone or "",
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "language": contact.language or "",
        "fields": fields_text(contact.fields),
    }
    return page(
        request,
        member,
        "dashboard/contacts/detail.html",
        {"contact": contact, "lists": lists, "fields": sorted(contact.fields.items()), "form": form or initial},
    )


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def contact_detail(request: HttpRequest, member: Member, contact_id: object) -> HttpResponse:
    """A contact's fields, lists and opt-out; POST: the edit form through `contact_update` (its
    fields replaced by the form's lines). A refusal redraws the form as typed, nothing changed."""
    contact = selectors.contact_for(client=member.client, contact_id=contact_id)
    if request.method == "GET":
        return _contact_page(request, member, contact)
    form = {key: request.POST.get(key, "") for key in ("phone", "first_name", "last_name", "language", "fields")}

    def update() -> Contact:
        data = {key: form[key] for key in ("phone", "first_name", "last_name", "language")}
        return contact_services.contact_update(
            contact=contact, data={**data, "fields": parse_fields(form["fields"])}, replace_fields=True
        )

    updated = attempt(request, update, "Contact saved.")
    if updated is None:
        return _contact_page(request, member, contact, form)
    return redirect("dashboard:contact_detail", contact_id=contact.pk)


@require_http_methods(["GET", "POST"])
@member_required(MANAGER)
def contact_delete(request: HttpRequest, member: Member, contact_id: object) -> HttpResponse:
    """GET: the question. POST: `contact_delete` (its memberships go, the lists' counts follow)."""
    contact = selectors.contact_for(client=member.client, contact_id=contact_id)
    if request.method == "GET":
        return _confirm(
            request,
            member,
            title=f"Delete {_who(contact)}",
            question=f"Delete {_who(contact)} for good? They leave every list; this cannot be undone.",
            button="Delete contact",
            back=reverse("dashboard:contact_detail", args=[contact.pk]),
        )
    deleted = attempt(
        request, _done(lambda: contact_services.contact_delete(contact=contact)), f"{_who(contact)} deleted."
    )
    if deleted is None:
        return redirect("dashboard:contact_detail", contact_id=contact.pk)
    return redirect("dashboard:contacts")


def _done(service: Callable[[], None]) -> Callable[[], bool]:
    """The service, answering True once it has run: `attempt` answers None for a refusal."""

    def run() -> bool:
        service()
        return True

    return run


def _confirm(
    request: HttpRequest, member: Member, *, title: str, question: str, button: str, back: str
) -> HttpResponse:
    """The confirmation step of a destructive button: a page whose form POSTs to the same URL."""
    return page(
        request,
        member,
        "dashboard/confirm.html",
        {"title": title, "question": question, "button": button, "back": back},
    )


def _contact_list_for(member: Member, list_id: object) -> ContactList:
    """The client's list, or 404 (another client's list is a 404 too)."""
    contact_list = contact_list_queryset(client=member.client).filter(pk=str(list_id)).first()
    if contact_list is None:
        raise Http404("No such list.")
    return contact_list


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def contact_list_detail(request: HttpRequest, member: Member, list_id: object) -> HttpResponse:
    """A list's members, newest first, 50 a page; POST: the rename form through `contact_list_update`."""
    contact_list = _contact_list_for(member, list_id)
    if request.method == "POST":
        name = request.POST.get("name", "")
        attempt(
            request,
            lambda: contact_services.contact_list_update(contact_list=contact_list, name=name),
            f"List renamed to “{name.strip()}”.",
        )
        return redirect("dashboard:contact_list_detail", list_id=contact_list.pk)
    start = offset(request)
    members = (
        contact_queryset(client=member.client)
        .prefetch_related(None)
        .filter(memberships__contact_list=contact_list)
        .order_by("-memberships__created_at", "-memberships__id")
    )
    rows = list(members[start : start + PAGE_SIZE + 1])
    return page(
        request,
        member,
        "dashboard/contacts/list_detail.html",
        {
            "contact_list": contact_list,
            "members": rows[:PAGE_SIZE],
            "offset": start,
            "next_offset": start + PAGE_SIZE if len(rows) > PAGE_SIZE else None,
            "prev_offset": max(start - PAGE_SIZE, 0) if start else None,
        },
    )


@require_http_methods(["GET", "POST"])
@member_required(MANAGER)
def contact_list_remove(request: HttpRequest, member: Member, list_id: object, contact_id: object) -> HttpResponse:
    """GET: the question. POST: `contact_list_remove_contacts` (the contact stays)."""
    contact_list = _contact_list_for(member, list_id)
    contact = selectors.contact_for(client=member.client, contact_id=contact_id)
    back = reverse("dashboard:contact_list_detail", args=[contact_list.pk])
    if request.method == "GET":
        return _confirm(
            request,
            member,
            title=f"Remove {_who(contact)}",
            question=f"Remove {_who(contact)} from “{contact_list.name}”? The contact stays, in its other lists too.",
            button="Remove from list",
            back=back,
        )
    attempt(
        request,
        lambda: contact_services.contact_list_remove_contacts(contact_list=contact_list, contact_ids=[contact.pk]),
        f"{_who(contact)} removed from “{contact_list.name}”.",
    )
    return redirect(back)


@require_http_methods(["GET", "POST"])
@member_required(MANAGER)
def contact_list_delete(request: HttpRequest, member: Member, list_id: object) -> HttpResponse:
    """GET: the question. POST: `contact_list_delete` (its contacts stay)."""
    contact_list = _contact_list_for(member, list_id)
    if request.method == "GET":
        return _confirm(
            request,
            member,
            title=f"Delete the list “{contact_list.name}”",
            question=f"Delete the list “{contact_list.name}”? "
            + ngettext("Its %(count)d contact stays; ", "Its %(count)d contacts stay; ", contact_list.contact_count)
            % {"count": contact_list.contact_count}
            + "only the list goes.",
            button="Delete list",
            back=reverse("dashboard:contact_list_detail", args=[contact_list.pk]),
        )
    name = contact_list.name
    deleted = attempt(
        request,
        _done(lambda: contact_services.contact_list_delete(contact_list=contact_list)),
        f"List “{name}” deleted.",
    )
    if deleted is None:
        return redirect("dashboard:contact_list_detail", list_id=contact_list.pk)
    return redirect("dashboard:contact_lists")


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
