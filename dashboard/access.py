"""Who may see and do what on the dashboard: one decorator every page goes through.

Roles rank viewer < manager < admin < owner (SPEC §13): viewers read, managers compose and send,
admins also manage API keys and webhooks, owners everything (users and their roles). The check is
on the server, for every request; templates only hide buttons a member could not use anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec
from zoneinfo import ZoneInfo

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils import timezone

from accounts.models import Client, Membership, User
from accounts.selectors import membership_for

P = ParamSpec("P")

VIEWER: str = Membership.Role.VIEWER.value
MANAGER: str = Membership.Role.MANAGER.value
ADMIN: str = Membership.Role.ADMIN.value
OWNER: str = Membership.Role.OWNER.value
RANK: dict[str, int] = {VIEWER: 0, MANAGER: 1, ADMIN: 2, OWNER: 3}


@dataclass(frozen=True)
class Member:
    """The signed-in user acting for one client, with the role that decides what they may do."""

    user: User
    membership: Membership

    @property
    def client(self) -> Client:
        return self.membership.client

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def zone(self) -> ZoneInfo:
        """Where this user reads times: their own choice (settings), else the client's zone."""
        return ZoneInfo(self.membership.timezone or self.client.timezone or "UTC")

    def at_least(self, role: str) -> bool:
        return RANK.get(self.role, -1) >= RANK[role]

    @property
    def can_send(self) -> bool:
        return self.at_least(MANAGER)

    @property
    def can_admin(self) -> bool:
        return self.at_least(ADMIN)

    @property
    def is_owner(self) -> bool:
        return self.at_least(OWNER)


View = Callable[Concatenate[HttpRequest, Member, P], HttpResponseBase]


def member_required(
    role: str = VIEWER, *, write_role: str | None = None
) -> Callable[[View[P]], Callable[Concatenate[HttpRequest, P], HttpResponseBase]]:
    """Sign-in, a membership, and `role` to read; `write_role` (default: `role`) for a POST.

    No membership or too low a role is a 403 page, never a redirect loop; an anonymous visitor goes
    to the login page (an htmx request gets a 403 so a polled fragment never swaps in a login form)."""

    def decorate(view: View[P]) -> Callable[Concatenate[HttpRequest, P], HttpResponseBase]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            user: Any = request.user
            if not user.is_authenticated:
                if request.headers.get("HX-Request"):
                    raise PermissionDenied("Your session has ended: log in again.")
                return redirect_to_login(request.get_full_path())
            membership = membership_for(user=user, client_id=request.session.get("client_id"))
            if membership is None:
                raise PermissionDenied("Your user is not a member of any client.")
            member = Member(user=user, membership=membership)
            needed = (write_role or role) if request.method not in ("GET", "HEAD", "OPTIONS") else role
            if not member.at_least(needed):
                raise PermissionDenied(f"This needs the {needed} role; you are {member.role}.")
            # Every time on the page in the user's zone (templates' `date` converts to the active one).
            with timezone.override(member.zone):
                response = view(request, member, *args, **kwargs)
                render = getattr(response, "render", None)
                if callable(render) and not getattr(response, "is_rendered", True):
                    render()
            return response

        return wrapper

    return decorate
