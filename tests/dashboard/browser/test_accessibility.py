"""axe-core (axe-playwright-python's bundled copy) on every main page: no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from accounts.models import Membership
from contacts import services as contact_services
from contacts.imports.services import contact_import_create
from tests.factories.templates_app import TemplateFactory
from tracking.models import TrackedLink

from .conftest import scheduled_broadcast

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKING = {"serious", "critical"}
# A link as marketers paste them: a signed token is one long word, which must wrap, not widen the page.
LONG_URL = "https://shop.example.com/r/" + "aGVsbG8gSGVyYWxkIGZyb20gYSBzaWduZWQgY2FtcGFpZ24gbGluayB0b2tlbg" * 2


def _violations(page: Any) -> list[str]:
    page.wait_for_load_state("networkidle")  # the page as shown: its stylesheet and scripts loaded
    results = Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:5]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING
    ]


def _main_pages(shop: Any) -> list[str]:
    """The main pages of a tenant with something on each: a sent broadcast with a tracked link, an
    import, a contact in a list, a template and a scheduled broadcast."""
    response = shop.create(
        name="Black Friday",
        recipients=["+256772000001", "+256772000002", "+256772000003", "not-a-number"],
        sender="Herald",
        text=f"Deals at https://example.com/deals and {LONG_URL}",
        track_links=True,
    )
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    job = contact_import_create(
        client=shop.client,
        file=SimpleUploadedFile(
            "people.csv", f"phone,first_name\n+256772000001,Ann\nnope,Bob\n{LONG_URL},Cy\n".encode()
        ),
        file_name="people.csv",
        list_name="VIP",
        update_existing=False,
    )
    link = TrackedLink.objects.filter(broadcast_id=broadcast.pk).first()
    return [
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
        *_recent_pages(shop, broadcast),
    ]


def _recent_pages(shop: Any, sent: Any) -> list[str]:
    """The pages added with issue 21: a contact's page (its edit form) and its confirmation steps, a
    list's page, a template's page, a broadcast's edit and duplicate forms."""
    ann = contact_services.contact_create(
        client=shop.client, phone="+256772000021", first_name="Ann", fields={"offer": LONG_URL}
    )
    team = contact_services.contact_list_create(client=shop.client, name="Team")
    contact_services.contact_list_add_contacts(contact_list=team, contact_ids=[ann.pk])
    template = TemplateFactory(client=shop.client, name="welcome", content=f"Hi {{{{first_name}}}}, see {LONG_URL}")
    scheduled = scheduled_broadcast(shop)
    campaigns = _campaign_pages(shop)
    return [
        f"/contacts/{ann.pk}/",
        f"/contacts/{ann.pk}/delete/",
        f"/contacts/{ann.pk}/opt-out/",
        f"/contacts/lists/{team.pk}/",
        f"/contacts/lists/{team.pk}/remove/{ann.pk}/",
        f"/contacts/lists/{team.pk}/delete/",
        f"/templates/{template.pk}/",
        f"/templates/{template.pk}/delete/",
        f"/broadcasts/{scheduled.pk}/edit/",
        f"/broadcasts/{scheduled.pk}/cancel/",
        f"/broadcasts/{sent.pk}/duplicate/",
        "/settings/timezone/",
        *campaigns,
    ]


def _campaign_pages(shop: Any) -> list[str]:
    """Issue 22's pages: a recurring series' page, its edit (the Repeat fields shown) and its pause
    step; a local-time broadcast's page."""
    series = shop.create(
        recipients=["+256772000001"],
        schedule_mode="recurring",
        recurrence={"rule": "FREQ=WEEKLY;BYDAY=MO,TH", "start": "2026-11-26T09:00", "count": 10},
    )
    assert series.status_code == 201, series.content
    local = shop.create(
        recipients=["+256772000001", "+12125550101"],
        purpose="transactional",
        schedule_mode="local_time",
        local_time={"date": "2026-11-25", "time": "10:00"},
    )
    assert local.status_code == 201, local.content
    series_id, local_id = series.json()["id"], local.json()["id"]
    return [
        f"/broadcasts/{series_id}/",
        f"/broadcasts/{series_id}/edit/",
        f"/broadcasts/{series_id}/pause/",
        f"/broadcasts/{local_id}/",
    ]


def test_every_main_page_has_no_serious_or_critical_violation(
    live_server: Any, page: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    paths = _main_pages(shop)
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


def test_pages_after_a_form_is_sent_have_no_serious_or_critical_violation(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    """What a form answers: the compose review (warnings, cost table, Send), a refused add (an error
    message), a contact's edit form redrawn with the service's refusal, the settings after a time zone."""
    shop = make_shop()
    ann = contact_services.contact_create(client=shop.client, phone="+256772000021", first_name="Ann")
    page = signed_in(shop.client, Membership.Role.OWNER)
    found: dict[str, list[str]] = {}

    page.goto(f"{live_server.url}/broadcasts/new/")
    page.fill("input[name=name]", "Review")
    page.fill("textarea[name=recipients]", "+256772000001\n+33612345678\nnot-a-number")
    page.fill("#text", "Promo, no stop mention")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")
    expect(page.locator("[data-testid=total-contacts]")).to_have_text("2")
    found["review"] = _violations(page)

    page.goto(f"{live_server.url}/broadcasts/new/")  # a weekly series' review: its words and next runs
    page.fill("input[name=name]", "Weekly")
    page.fill("textarea[name=recipients]", "+256772000001")
    page.fill("#text", "Deals")
    page.check("[data-testid=mode-recurring]")
    page.check("input[name=repeat_days][value=MO]")
    page.fill("input[name=repeat_count]", "4")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")
    expect(page.locator("[data-testid=next-runs] li")).to_have_count(4)
    found["series review"] = _violations(page)

    page.goto(f"{live_server.url}/contacts/")
    add = page.locator("form:has(button:text-is('Add contact'))")
    add.locator("input[name=phone]").fill("12")
    add.locator("button[type=submit]").click()
    expect(page.locator("ul.messages li.error")).to_be_visible()
    found["refused add"] = _violations(page)

    page.goto(f"{live_server.url}/contacts/{ann.pk}/")
    page.fill("textarea[name=fields]", "not a key value line")
    page.click("form:has(textarea[name=fields]) button[type=submit]")
    expect(page.locator("ul.messages li.error")).to_be_visible()
    found["refused edit"] = _violations(page)

    page.goto(f"{live_server.url}/settings/")
    page.select_option("[data-testid=time-zone]", "Europe/Paris")
    page.locator("form:has([data-testid=time-zone]) button[type=submit]").click()
    expect(page.locator("ul.messages")).to_contain_text("Europe/Paris")
    found["time zone chosen"] = _violations(page)
    assert {name: v for name, v in found.items() if v} == {}


def test_no_main_page_scrolls_sideways_at_1024_by_768(
    live_server: Any, page: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    paths = _main_pages(shop)
    page.set_viewport_size({"width": 1024, "height": 768})
    page = signed_in(shop.client, Membership.Role.OWNER)
    widths: dict[str, tuple[int, int]] = {}
    for path in ["/login/", *paths]:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        widths[path] = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    # The review of a broadcast carrying the long link, as a compose submit answers it.
    page.goto(f"{live_server.url}/broadcasts/new/")
    page.fill("input[name=name]", "Long link")
    page.fill("textarea[name=recipients]", "+256772000001")
    page.fill("#text", f"Deals at {LONG_URL} and " + "a long line of words without a newline " * 8 + "STOP 8080")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")
    expect(page.locator("[data-testid=total-contacts]")).to_have_text("1")
    page.wait_for_load_state("load")  # the stylesheet applied: before it, a <pre> never wraps
    widths["review"] = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert {path: (scroll, client) for path, (scroll, client) in widths.items() if scroll > client} == {}
