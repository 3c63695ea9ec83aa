"""One permission class for every endpoint: tenant active, IP allowlist, role, scope.

Views declare what they need as attributes (`read_scope`, `write_scope`, `session_only`,
`allowed_roles`) or by overriding `required_scope(request)`. A write endpoint that declares
nothing is refused: the check fails closed.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.net import client_ip, ip_in_networks

from .principal import Principal

UNSET = object()


def request_ip(request: Request) -> str:
    meta = request.META
    return client_ip(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"), settings.TRUSTED_PROXIES)


def required_scope(request: Request, view: Any) -> object:
    if hasattr(view, "required_scope"):
        return view.required_scope(request)
    if request.method in SAFE_METHODS:
        return getattr(view, "read_scope", "read")
    return getattr(view, "write_scope", UNSET)


class HeraldPermission(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        principal = request.user
        if not isinstance(principal, Principal):
            raise NotAuthenticated("Authentication required: send 'Authorization: Bearer <api key>'.")
        if not principal.client.is_active:
            raise PermissionDenied("This client is suspended.", code="client_suspended")
        api_key = principal.api_key
        if api_key is not None:
            if getattr(view, "session_only", False):
                raise PermissionDenied(
                    "This endpoint is for users logged in to the dashboard, not API keys.", code="session_required"
                )
            if api_key.allowed_ips and not ip_in_networks(request_ip(request), api_key.allowed_ips):
                raise PermissionDenied("This API key may not be used from this address.", code="ip_not_allowed")
        if getattr(view, str(request.method).lower(), None) is None:
            return True  # the view will answer 405 Method Not Allowed; say that, not 403
        allowed_roles = getattr(view, "allowed_roles", None)
        if principal.user is not None and allowed_roles and principal.role not in allowed_roles:
            raise PermissionDenied(f"This needs one of the roles: {', '.join(allowed_roles)}.", code="role_not_allowed")
        scope = required_scope(request, view)
        if scope is UNSET:
            raise PermissionDenied("This action is not allowed.", code="permission_denied")
        if scope is not None and not principal.has_scope(str(scope)):
            raise PermissionDenied(f"This request needs the '{scope}' scope.", code="missing_scope")
        return True
