"""Who is calling: the client (tenant), through an API key or a dashboard user's membership."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from accounts.models import ApiKey, Client, Membership, Scope, User

if TYPE_CHECKING:
    from rest_framework.request import Request

ALL_SCOPES = frozenset(Scope.values)
SEND_SCOPES = frozenset({Scope.SEND_SMS, Scope.SEND_WHATSAPP, Scope.SEND_TELEGRAM, Scope.SEND_RCS})

# What a dashboard user may do, expressed in API scopes so one permission check serves both doors.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    Membership.Role.OWNER: ALL_SCOPES,
    Membership.Role.ADMIN: ALL_SCOPES,
    Membership.Role.MANAGER: SEND_SCOPES | {Scope.CONTACTS, Scope.TEMPLATES, Scope.READ},
    Membership.Role.VIEWER: frozenset({Scope.READ}),
}


@dataclass(frozen=True)
class Principal:
    client: Client
    scopes: frozenset[str]
    api_key: ApiKey | None = None
    user: User | None = None
    role: str | None = None
    is_authenticated: bool = field(default=True, init=False)
    is_anonymous: bool = field(default=False, init=False)

    @property
    def pk(self) -> str:
        return f"key:{self.api_key.pk}" if self.api_key else f"user:{self.user.pk if self.user else ''}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


def get_principal(request: Request) -> Principal:
    principal = request.user
    if not isinstance(principal, Principal):  # the permission class guarantees this never happens
        raise TypeError("request is not authenticated as a Herald principal")
    return principal
