"""API management (keys, webhook endpoints and their deliveries) and settings (users and roles)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import available_timezones

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts.models import Membership, Scope
from accounts.selectors import api_key_list
from accounts.services import api_key_create, api_key_revoke, membership_set
from dashboard import selectors
from dashboard.access import ADMIN, OWNER, Member, member_required
from dashboard.services import member_invite
from webhooks import services as webhook_services
from webhooks.events import EVENT_TYPES
from webhooks.selectors import delivery_queryset, endpoint_health, endpoint_health_list, endpoint_health_queryset

from .common import attempt, page


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


@never_cache  # the page that shows a new secret must not be kept by any cache
@require_http_methods(["GET", "POST"])
@member_required(ADMIN)
def api_management(request: HttpRequest, member: Member) -> HttpResponse:
    """Keys (scopes, IP allowlist; the secret shown once, in the answer to the POST that made it)
    and webhook endpoints (their secret likewise)."""
    new_key = new_endpoint = None
    form = request.POST
    if request.method == "POST" and form.get("kind") == "key":
        expires: datetime | None = None
        created = attempt(
            request,
            lambda: api_key_create(
                client=member.client,
                name=form.get("name", ""),
                scopes=form.getlist("scopes"),
                allowed_ips=_lines(form.get("allowed_ips", "")),
                expires_at=expires,
                created_by=member.user,
            ),
            "",
        )
        if created is not None:
            new_key = {"key": created[0], "secret": created[1]}
    elif request.method == "POST" and form.get("kind") == "webhook":
        new_endpoint = attempt(
            request,
            lambda: webhook_services.webhook_endpoint_create(
                client=member.client, url=form.get("url", ""), events=form.getlist("events") or ["*"]
            ),
            "",
        )
    return page(
        request,
        member,
        "dashboard/api_management.html",
        {
            "keys": api_key_list(client=member.client),
            "scopes": Scope.choices,
            "new_key": new_key,
            "endpoints": endpoint_health_list(client=member.client),
            "event_types": EVENT_TYPES,
            "new_endpoint": new_endpoint,
        },
    )


@require_http_methods(["GET", "POST"])
@member_required(ADMIN, write_role=ADMIN)
def api_key_revoke_view(request: HttpRequest, member: Member, key_id: object) -> HttpResponse:
    """GET asks first (a revoked key stops working at once and cannot be restored); POST revokes."""
    api_key = api_key_list(client=member.client).filter(pk=_uuid_or_404(key_id)).first()
    if api_key is None:
        raise Http404("No such key.")
    if request.method == "GET":
        return page(
            request,
            member,
            "dashboard/confirm.html",
            {
                "title": "Revoke this API key?",
                "question": f"Key {api_key.name} ({api_key.masked}) stops working at once, for every "
                "integration that uses it. This cannot be undone: a new key would have to be created.",
                "button": "Revoke the key",
                "back": reverse("dashboard:api_management"),
            },
        )
    attempt(request, lambda: api_key_revoke(api_key=api_key), f"Key {api_key.masked} revoked.")
    return redirect("dashboard:api_management")


def _uuid_or_404(value: object) -> str:
    import uuid

    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise Http404("No such object.") from None


@require_http_methods(["GET", "POST"])
@member_required(ADMIN)
def webhook_endpoint(request: HttpRequest, member: Member, endpoint_id: object) -> HttpResponse:
    endpoint = endpoint_health_queryset(client=member.client).filter(pk=_uuid_or_404(endpoint_id)).first()
    if endpoint is None:
        raise Http404("No such endpoint.")
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "disable":
            attempt(
                request,
                lambda: webhook_services.webhook_endpoint_disable(
                    endpoint=endpoint, reason="Disabled in the dashboard."
                ),
                "Endpoint disabled.",
            )
        elif action == "enable":
            attempt(request, lambda: webhook_services.webhook_endpoint_enable(endpoint=endpoint), "Endpoint enabled.")
        elif action == "test":
            attempt(request, lambda: webhook_services.webhook_test_send(endpoint=endpoint), "Test event queued.")
        return redirect("dashboard:webhook_endpoint", endpoint_id=endpoint.pk)
    # Newest first, as the API lists them (webhook_delivery_list_idx).
    deliveries = delivery_queryset(endpoint=endpoint).order_by("-created_at", "-id")[:100]
    return page(
        request,
        member,
        "dashboard/webhook_endpoint.html",
        {"endpoint": endpoint, "health": endpoint_health(endpoint), "deliveries": deliveries},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@member_required(write_role=OWNER)
def team(request: HttpRequest, member: Member) -> HttpResponse:
    """Users and their roles; the owner invites by email address (a set-password link) and changes roles."""
    invitation = None
    if request.method == "POST":
        form = request.POST
        if form.get("kind") == "invite":
            invitation = attempt(
                request,
                lambda: member_invite(client=member.client, email=form.get("email", ""), role=form.get("role", "")),
                "Invitation created.",
            )
        elif form.get("kind") == "role":
            target = (
                selectors.members(client=member.client)
                .filter(pk=int(form["membership"]) if form.get("membership", "").isdigit() else 0)
                .first()
            )
            if target is None:
                raise Http404("No such member.")
            if target.user_id == member.user.pk and form.get("role") != Membership.Role.OWNER:
                messages.error(request, "You cannot lower your own role; ask another owner.")
            else:
                attempt(
                    request,
                    lambda: membership_set(client=member.client, user=target.user, role=form.get("role", "")),
                    f"{target.user} is now {form.get('role')}.",
                )
            return redirect("dashboard:settings")
    link = (
        request.build_absolute_uri(invitation.set_password_path)
        if invitation and invitation.set_password_path
        else None
    )
    return page(
        request,
        member,
        "dashboard/settings.html",
        {
            "members": selectors.members(client=member.client),
            "roles": Membership.Role.choices,
            "invite_link": link,
            "time_zones": sorted(available_timezones()),
        },
    )
