"""Dashboard fixtures: a member of a client logged in with a role, and the broadcasts suite's shop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client as WebClient

from accounts.models import Client, Membership
from tests.broadcasts.conftest import _ledger_replays, daytime, make_shop, shop  # noqa: F401 - fixtures
from tests.factories.accounts import ClientFactory, MembershipFactory, UserFactory


@pytest.fixture
def login(db: None) -> Callable[..., WebClient]:
    """login(role='owner', client=None) → a browser-like client signed in as a member (CSRF not enforced)."""

    def _login(role: str = Membership.Role.OWNER, client: Client | None = None) -> WebClient:
        user = UserFactory()
        MembershipFactory(user=user, client=client or ClientFactory(), role=role)
        web = WebClient()
        web.force_login(user)
        web.user = user  # type: ignore[attr-defined]
        return web

    return _login
