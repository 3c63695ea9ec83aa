"""Bearer API keys for integrators; session login (with its client membership) for the dashboard."""

from __future__ import annotations

import uuid
from typing import Any

import structlog
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from accounts.selectors import api_key_is_usable, api_key_lookup, membership_for
from accounts.services import api_key_touch

from .principal import ROLE_SCOPES, Principal


class ApiKeyAuthentication(BaseAuthentication):
    # The Authorization schemes that carry a key (the compatibility APIs add RapidPro's `Token`).
    schemes: tuple[bytes, ...] = (b"bearer",)

    def authenticate(self, request: Request) -> tuple[Principal, Any] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in self.schemes:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header; send 'Authorization: Bearer <api key>'.", code="malformed_header"
            )
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid API key.", code="invalid_api_key") from None
        return self.authenticate_key(raw)

    def authenticate_key(self, raw: str, *, client_id: uuid.UUID | None = None) -> tuple[Principal, Any]:
        """The principal of a raw key, however it was carried (the compatibility APIs carry it in
        their own headers); AuthenticationFailed when it is unknown, revoked or expired, or (given
        `client_id`, a login sent beside the key) belongs to another client."""
        api_key = api_key_lookup(raw=raw)
        if api_key is None:
            raise AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        if client_id is not None and api_key.client_id != client_id:
            raise AuthenticationFailed("The login does not match the API key.", code="login_mismatch")
        if api_key.revoked_at is not None:
            raise AuthenticationFailed("This API key has been revoked.", code="api_key_revoked")
        if not api_key_is_usable(api_key):
            raise AuthenticationFailed("This API key has expired.", code="api_key_expired")
        api_key_touch(api_key=api_key)
        structlog.contextvars.bind_contextvars(client_id=str(api_key.client_id), api_key_id=str(api_key.id))
        principal = Principal(client=api_key.client, scopes=frozenset(api_key.scopes), api_key=api_key)
        return principal, api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class ClientSessionAuthentication(SessionAuthentication):
    """Session login (CSRF enforced by DRF), acting for the membership chosen in the session."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        membership = membership_for(user=user, client_id=request._request.session.get("client_id"))
        if membership is None:
            raise PermissionDenied("Your user is not a member of any client.", code="no_membership")
        structlog.contextvars.bind_contextvars(client_id=str(membership.client_id), user_id=user.pk)
        principal = Principal(
            client=membership.client, scopes=ROLE_SCOPES[membership.role], user=user, role=membership.role
        )
        return principal, None
