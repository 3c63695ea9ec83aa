"""One message template: its page (content, SMS encoding and parts, variables), edit, delete.

Every write goes through templates_app.services, as the API's do; the service decides what an edit
does (e.g. an approved WhatsApp template goes back to draft) and its refusals are shown in words.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from accounts.channels import Channel
from dashboard.access import MANAGER, Member, member_required
from templates_app import encoding
from templates_app import services as template_services
from templates_app.models import Template
from templates_app.selectors import template_get

from .common import attempt, page

# What the edit form posts: the fields template_update accepts (the channel is fixed once created).
EDIT_FIELDS = template_services.EDITABLE_FIELDS


def _template_or_404(member: Member, template_id: object) -> Template:
    template = template_get(client=member.client, template_id=str(template_id))
    if template is None:
        raise Http404("No such template.")
    return template


def _sms(template: Template) -> dict[str, Any] | None:
    """Encoding and parts of an SMS template, counted by templates_app.encoding as compose does."""
    if template.channel != Channel.SMS:
        return None
    info = encoding.analyze(template.content)
    return {
        "info": info,
        "encoding_label": "GSM-7" if info.encoding == encoding.GSM7 else "UCS-2",
        "parts": encoding.split_segments(template.content),
    }


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def template_detail(request: HttpRequest, member: Member, template_id: object) -> HttpResponse:
    """GET: the template and (for a manager) its edit form. POST: `template_update`, then back here;
    a refusal re-shows the form with what was typed and the service's words, nothing changed."""
    template = _template_or_404(member, template_id)
    form: dict[str, str] = {field: str(getattr(template, field)) for field in EDIT_FIELDS}
    status = 200
    if request.method == "POST":
        changes = {field: request.POST[field] for field in EDIT_FIELDS if field in request.POST}
        updated = attempt(
            request, lambda: template_services.template_update(template=template, **changes), "Template saved."
        )
        if updated is not None:
            return redirect("dashboard:template_detail", template_id=updated.pk)
        form.update(changes)
        status = 400
        template = _template_or_404(member, template_id)  # as stored: the refused edit changed nothing
    return page(
        request,
        member,
        "dashboard/templates/detail.html",
        {
            "template": template,
            "sms": _sms(template),
            "form": form,
            "categories": Template.Category.choices,
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@member_required(write_role=MANAGER)
def template_delete(request: HttpRequest, member: Member, template_id: object) -> HttpResponse:
    """GET: the confirmation step (no JavaScript needed). POST: `template_delete`; a template in use
    is refused by the service, and the refusal is shown on the template's page."""
    template = _template_or_404(member, template_id)
    if request.method == "POST":

        def delete() -> bool:
            template_services.template_delete(template=template)
            return True

        if attempt(request, delete, "Template deleted."):
            return redirect("dashboard:templates")
        return redirect("dashboard:template_detail", template_id=template.pk)
    return page(request, member, "dashboard/templates/confirm_delete.html", {"template": template})
