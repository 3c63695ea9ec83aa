"""Playwright (pytest-playwright) driving Debian's chromium: never a downloaded browser.

`playwright install` is never run: the browser is `/usr/bin/chromium` with DESIGN.md's flags,
headless. The tests skip only when chromium is absent and REQUIRE_SERVICES is unset; in CI
(`.ci/run` installs the package with apt) a missing browser fails."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from accounts.models import Client, Membership
from tests.conftest import service_unavailable
from tests.factories.accounts import MembershipFactory, UserFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PASSWORD = "a-long-pass-4321"

# Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls from a
# thread with a running loop; the tests' own fixtures (factories, asserts) are synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        service_unavailable("chromium", "install Debian's chromium package (never `playwright install`)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_FLAGS}


@pytest.fixture(autouse=True)
def _cookies_outlive_the_server_clock(settings: Any) -> None:
    """Cookies without an expiry date: the live server may run on a travelled clock (`daytime`, a
    Sunday for quiet hours), and an expiry it computes from a past date would already have passed
    for chromium, which would drop the session and the CSRF cookie at once."""
    settings.SESSION_EXPIRE_AT_BROWSER_CLOSE = True
    settings.CSRF_COOKIE_AGE = None


@pytest.fixture
def signed_in(live_server: Any, page: Any) -> Callable[..., Any]:
    """signed_in(client, role) → the page, signed in through the login form as a new member."""

    def _sign_in(client: Client, role: str = Membership.Role.OWNER, username: str = "ann") -> Any:
        user = UserFactory(username=username)
        user.set_password(PASSWORD)
        user.save()
        MembershipFactory(user=user, client=client, role=role)
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form button[type=submit]")
        page.wait_for_selector("p.whoami")
        return page

    return _sign_in


def scheduled_broadcast(shop: Any) -> Any:
    """A broadcast to one Ugandan number, scheduled for Christmas Eve (it stays put while a page
    is watched), created through the API as a manager's compose would."""
    response = shop.create(
        recipients=["+256772000001"], sender="Herald", schedule_mode="scheduled", scheduled_at="2026-12-24T09:00:00Z"
    )
    assert response.status_code == 201, response.content
    return shop.broadcast(response)
