"""Each main page's query count, pinned: a page costs the same few queries however many broadcasts,
messages, links, contacts or imports the tenant has (an N+1 would grow with them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client as WebClient

from accounts.models import Membership
from broadcasts.models import Broadcast
from contacts.imports.services import contact_import_create
from tests.factories.contacts import ContactFactory

pytestmark = pytest.mark.django_db

# path (with {b}: the newest broadcast) → the most queries it may make, session and membership included.
PAGES: dict[str, int] = {
    "/": 10,  # 7, and the last 30 days by day: their broadcasts, and broadcast_stats' counters and clicks
    "/broadcasts/": 6,
    "/broadcasts/?status=sent": 6,
    "/broadcasts/{b}/": 14,
    "/broadcasts/{b}/progress/": 8,
    "/broadcasts/{b}/cancel/": 4,
    "/broadcasts/new/": 7,
    "/messages/": 4,
    "/messages/?broadcast={b}": 4,
    "/messages/?status=failed": 4,
    "/contacts/": 5,
    "/contacts/?q=Ann": 5,
    "/contacts/lists/": 4,
    "/contacts/imports/": 4,
    "/templates/": 4,
    "/wallet/": 6,
    "/replies/": 4,
    "/tracking/": 5,
    "/api-management/": 5,
    "/settings/": 4,
}


def _count(web: WebClient, path: str) -> int:
    queries: list[str] = []

    def record(execute: Any, sql: str, *rest: Any) -> Any:
        queries.append(sql)
        return execute(sql, *rest)

    with connection.execute_wrapper(record):
        response = web.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return len(queries)


def _grow(shop: Any, n: int) -> None:
    """n more broadcasts (a tracked link, a bad number each), contacts and an import."""
    for i in range(n):
        response = shop.create(
            name=f"Promo {i}",
            recipients=["+256772000001", "+256772000002", "not-a-number"],
            sender="Herald",
            text=f"Deals {i} at https://example.com/d{i}",
            track_links=True,
        )
        assert response.status_code == 201, response.content
        ContactFactory(client=shop.client, first_name=f"Ann{i}")
    contact_import_create(
        client=shop.client,
        file=SimpleUploadedFile("p.csv", b"phone\n+256772000009\nnope\n"),
        file_name="p.csv",
        list_name=None,
        update_existing=False,
    )


def _counts(web: WebClient, shop: Any) -> dict[str, int]:
    newest = Broadcast.objects.filter(client=shop.client).order_by("-created_at").first()
    assert newest is not None
    return {path: _count(web, path.format(b=newest.pk)) for path in PAGES}


def test_every_main_page_keeps_to_its_query_count(
    login: Callable[..., WebClient], shop: Any, daytime: Any, django_capture_on_commit_callbacks: Any
) -> None:
    web = login(Membership.Role.OWNER, shop.client)
    with django_capture_on_commit_callbacks(execute=True):
        _grow(shop, 2)
    small = _counts(web, shop)
    with django_capture_on_commit_callbacks(execute=True):
        _grow(shop, 6)
    large = _counts(web, shop)
    assert {p: (small[p], large[p]) for p in PAGES if large[p] != small[p]} == {}  # no N+1
    assert {p: (n, PAGES[p]) for p, n in large.items() if n > PAGES[p]} == {}
