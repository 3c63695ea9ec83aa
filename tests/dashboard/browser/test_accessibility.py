"""axe-core (axe-playwright-python's bundled copy) on every main page: no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Membership
from contacts.imports.services import contact_import_create
from tracking.models import TrackedLink

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKING = {"serious", "critical"}


def _violations(page: Any) -> list[str]:
    results = Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


def test_every_main_page_has_no_serious_or_critical_violation(
    live_server: Any, page: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    response = shop.create(
        name="Black Friday",
        recipients=["+256772000001", "+256772000002", "+256772000003", "not-a-number"],
        sender="Herald",
        text="Deals at https://example.com/deals",
        track_links=True,
    )
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    job = contact_import_create(
        client=shop.client,
        file=SimpleUploadedFile("people.csv", b"phone,first_name\n+256772000001,Ann\nnope,Bob\n"),
        file_name="people.csv",
        list_name="VIP",
        update_existing=False,
    )
    link = TrackedLink.objects.filter(broadcast_id=broadcast.pk).first()
    paths = [
        "/",
        "/broadcasts/",
        "/broadcasts/new/",
        f"/broadcasts/{broadcast.pk}/",
        f"/broadcasts/{broadcast.pk}/retry-failed/",
        f"/broadcasts/{broadcast.pk}/test/",
        "/messages/",
        "/contacts/",
        "/contacts/lists/",
        "/contacts/imports/",
        f"/contacts/imports/{job.pk}/",
        "/templates/",
        "/wallet/",
        "/replies/",
        "/tracking/",
        *([f"/tracking/{link.pk}/"] if link else []),
        "/api-management/",
        "/settings/",
        "/no-such-page/",
    ]
    found: dict[str, list[str]] = {}
    page.goto(f"{live_server.url}/login/")
    found["/login/"] = _violations(page)
    page = signed_in(shop.client, Membership.Role.OWNER)
    for path in paths:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        found[path] = _violations(page)
    # The 403 page, as a viewer meets it on a write page.
    page.context.clear_cookies()
    viewer = signed_in(shop.client, Membership.Role.VIEWER, username="vic")
    viewer.goto(f"{live_server.url}/broadcasts/new/")
    found["403 /broadcasts/new/"] = _violations(viewer)
    assert {path: v for path, v in found.items() if v} == {}
