"""Support's admin: the broadcast page shows counters and the text readably; every model filters and searches."""

from __future__ import annotations

import pytest
from django.contrib import admin

from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def test_broadcast_admin_shows_counters_and_text(client, shop, daytime):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    broadcast = shop.broadcast(shop.create(recipients=["+256772000001"], text="Hello <b>you</b>"))
    body = client.get(f"/admin/broadcasts/broadcast/{broadcast.pk}/change/").content.decode()
    assert "<th>delivered</th>" in body
    assert "Hello &lt;b&gt;you&lt;/b&gt;" in body
    assert '{"' not in body.split("Counters")[1][:2000]


@pytest.mark.parametrize(
    "model_admin",
    [
        a
        for m, a in admin.site._registry.items()
        if m._meta.app_label in {"accounts", "contacts", "templates_app", "wallets", "broadcasts", "webhooks"}
    ],
    ids=lambda a: type(a).__name__,
)
def test_every_model_admin_filters_and_searches(model_admin, rf):
    request = rf.get("/")
    request.user = UserFactory.build(is_staff=True, is_superuser=True)
    assert model_admin.get_list_filter(request), type(model_admin).__name__
    assert model_admin.get_search_fields(request), type(model_admin).__name__
