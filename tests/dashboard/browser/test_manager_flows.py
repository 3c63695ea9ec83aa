"""A campaign manager's everyday flows in a real browser (issue 21): contacts and lists, a template,
duplicating and rescheduling broadcasts, quiet hours, the chosen time zone, and one broadcast's
figures read alike on every page and in the API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Membership
from broadcasts.models import Broadcast, Message
from contacts import services as contact_services
from contacts.models import Contact, ContactListMembership
from templates_app import encoding
from templates_app.models import Template
from tests.broadcasts.conftest import FR, UG
from tests.factories.templates_app import TemplateFactory

from .conftest import scheduled_broadcast

pytestmark = pytest.mark.django_db(transaction=True)

R = Membership.Role
UUID = r"[0-9a-f-]{36}"
SUNDAY_NOON = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)  # 12:00 in Paris: a Sunday, quiet all day for marketing


@pytest.fixture
def sunday_noon() -> Iterator[time_machine.Coordinates]:
    # The live server runs in this process, so its clock travels too; chromium's does not need to.
    with time_machine.travel(SUNDAY_NOON, tick=True) as traveller:
        yield traveller


def _sent(shop: Any, **body: Any) -> Broadcast:
    """A broadcast created through the API and, Celery being eager, already sent and reported."""
    broadcast = shop.broadcast(shop.create(sender="Herald", **body))
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SENT
    return broadcast


# --- contacts ---------------------------------------------------------------------------------------


def test_add_edit_and_delete_a_contact(live_server: Any, signed_in: Any, make_shop: Any) -> None:
    shop = make_shop()
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/contacts/")
    add = page.locator("form:has(button:text-is('Add contact'))")
    add.locator("input[name=phone]").fill("+256772000041")
    add.locator("input[name=first_name]").fill("Dora")
    add.locator("input[name=last_name]").fill("Akello")
    add.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/contacts/{UUID}/$"))
    expect(page.locator("h1")).to_have_text("Dora Akello")
    expect(page.locator("ul.messages")).to_contain_text("Contact added.")
    contact = Contact.objects.get(client=shop.client)

    edit = page.locator("form:has(textarea[name=fields])")
    expect(edit.locator("input[name=phone]")).to_have_value("+256772000041")
    edit.locator("input[name=first_name]").fill("Doreen")
    edit.locator("input[name=language]").fill("fra")
    edit.locator("textarea[name=fields]").fill("city=Gulu\ntier = gold")
    edit.locator("button[type=submit]").click()
    expect(page.locator("ul.messages")).to_contain_text("Contact saved.")
    expect(page.locator("h1")).to_have_text("Doreen Akello")
    expect(page.get_by_role("row", name="city Gulu")).to_be_visible()
    expect(page.get_by_role("row", name="tier gold")).to_be_visible()
    contact.refresh_from_db()
    assert (contact.first_name, contact.language, contact.fields) == ("Doreen", "fra", {"city": "Gulu", "tier": "gold"})

    page.click("a.button.danger:text-is('Delete contact…')")
    expect(page).to_have_url(re.compile(rf"/contacts/{contact.pk}/delete/$"))
    expect(page.locator("h1")).to_have_text("Delete Doreen Akello")
    page.click("main form a:text-is('Cancel')")  # the question deletes nothing
    expect(page).to_have_url(re.compile(rf"/contacts/{contact.pk}/$"))
    assert Contact.objects.filter(pk=contact.pk).exists()

    page.click("a.button.danger:text-is('Delete contact…')")
    page.click("main form button[type=submit]:text-is('Delete contact')")
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    expect(page.locator("ul.messages")).to_contain_text("Doreen Akello deleted.")
    expect(page.locator("main")).to_contain_text("No contacts match.")
    assert not Contact.objects.filter(pk=contact.pk).exists()


def test_open_a_list_and_remove_a_member(live_server: Any, signed_in: Any, make_shop: Any) -> None:
    shop = make_shop()
    ann = contact_services.contact_create(client=shop.client, phone="+256772000051", first_name="Ann")
    bob = contact_services.contact_create(client=shop.client, phone="+256772000052", first_name="Bob")
    vip = contact_services.contact_list_create(client=shop.client, name="VIP")
    contact_services.contact_list_add_contacts(contact_list=vip, contact_ids=[ann.pk, bob.pk])
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/contacts/lists/")
    page.get_by_role("link", name="VIP", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/contacts/lists/{vip.pk}/$"))
    expect(page.locator("h1")).to_have_text("VIP")
    expect(page.locator("main")).to_contain_text("2 contacts")
    expect(page.locator("main tbody tr")).to_have_count(2)

    page.get_by_role("link", name="Remove Bob from the list").click()
    expect(page.locator("h1")).to_have_text("Remove Bob")
    page.click("main form button[type=submit]:text-is('Remove from list')")
    expect(page).to_have_url(re.compile(rf"/contacts/lists/{vip.pk}/$"))
    expect(page.locator("ul.messages")).to_contain_text("Bob removed from “VIP”.")
    expect(page.locator("main")).to_contain_text("1 contact ")
    expect(page.locator("main tbody tr")).to_have_count(1)
    expect(page.locator("main tbody")).to_contain_text("Ann")
    assert list(ContactListMembership.objects.filter(contact_list=vip).values_list("contact_id", flat=True)) == [ann.pk]
    assert Contact.objects.filter(pk=bob.pk).exists()  # removed from the list, not deleted


# --- templates --------------------------------------------------------------------------------------


def test_edit_a_template(live_server: Any, signed_in: Any, make_shop: Any) -> None:
    shop = make_shop()
    template = TemplateFactory(client=shop.client, name="welcome", content="Hi {{first_name|there}}.")
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/templates/")
    page.get_by_role("link", name="welcome", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/templates/{template.pk}/$"))
    expect(page.locator("[data-testid=template-content]")).to_have_text("Hi {{first_name|there}}.")

    content = "Bonjour {{first_name}}, votre code est {{code}} — à bientôt !"
    form = page.locator("[data-testid=template-edit]")
    form.locator("input[name=name]").fill("welcome_fr")
    form.locator("input[name=language]").fill("fra")
    form.locator("textarea[name=content]").fill(content)
    form.locator("button[type=submit]").click()
    expect(page.locator("ul.messages")).to_contain_text("Template saved.")
    expect(page.locator("h1")).to_have_text("welcome_fr")
    expect(page.locator("[data-testid=template-content]")).to_have_text(content)
    expect(page.locator("[data-testid=template-variables] li")).to_have_text(["first_name", "code"])
    info = encoding.analyze(content)
    label = "GSM-7" if info.encoding == encoding.GSM7 else "UCS-2"
    expect(page.locator("[data-testid=template-sms]")).to_contain_text(f"{label} · {info.length} ")
    expect(page.locator("[data-testid=template-sms]")).to_contain_text(f"{info.segments} part")
    template = Template.objects.get(pk=template.pk)
    assert (template.name, template.language, template.content) == ("welcome_fr", "fra", content)


# --- broadcasts -------------------------------------------------------------------------------------


def test_duplicate_a_finished_broadcast_and_send_the_copy(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    original = _sent(shop, name="Black Friday", recipients=[UG, "+256772000002"], text="Deals today")
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/{original.pk}/")
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Completed")
    page.click("[data-testid=duplicate]")
    expect(page).to_have_url(re.compile(rf"/broadcasts/{original.pk}/duplicate/$"))
    expect(page.locator("[data-testid=duplicate-of]")).to_contain_text("Black Friday")
    expect(page.locator("input[name=name]")).to_have_value("Copy of Black Friday")
    expect(page.locator("#text")).to_have_value("Deals today")
    expect(page.locator("input[name=schedule_mode][value=now]")).to_be_checked()
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")
    expect(page.locator("h1")).to_have_text("Review: Copy of Black Friday")
    expect(page.locator("[data-testid=total-contacts]")).to_have_text("2")
    page.click("button[value=send]")
    expect(page).to_have_url(re.compile(rf"/broadcasts/{UUID}/$"))
    assert str(original.pk) not in page.url
    expect(page.locator("h1")).to_have_text("Copy of Black Friday")
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Completed", timeout=30_000)
    expect(page.locator("[data-testid=funnel-sent]")).to_have_text("2")
    copy = Broadcast.objects.exclude(pk=original.pk).get(client=shop.client)
    assert (copy.name, copy.total_recipients, copy.text, copy.sender) == (
        "Copy of Black Friday",
        2,
        original.text,
        "Herald",
    )
    assert sorted(Message.objects.filter(broadcast=copy).values_list("urn", flat=True)) == sorted(
        Message.objects.filter(broadcast=original).values_list("urn", flat=True)
    )


def test_reschedule_a_scheduled_broadcast(live_server: Any, signed_in: Any, make_shop: Any, daytime: Any) -> None:
    shop = make_shop()
    broadcast = scheduled_broadcast(shop)  # 2026-12-24 09:00 UTC, 12:00 in Kampala (the client's zone)
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    expect(page.locator("[data-testid=scheduled-at]")).to_have_text("2026-12-24 12:00 EAT")
    page.click("[data-testid=edit]")
    expect(page).to_have_url(re.compile(rf"/broadcasts/{broadcast.pk}/edit/$"))
    expect(page.locator("h1")).to_have_text("Edit or reschedule")
    expect(page.locator("input[name=scheduled_at]")).to_have_value("2026-12-24T12:00")
    page.fill("input[name=scheduled_at]", "2026-12-31T18:30")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")
    expect(page.locator("[data-testid=review-schedule]")).to_have_text("Scheduled for Thursday 2026-12-31 18:30 EAT")
    page.click("button[value=send]:text-is('Save changes')")
    expect(page).to_have_url(re.compile(rf"/broadcasts/{broadcast.pk}/$"))
    expect(page.locator("[data-testid=scheduled-at]")).to_have_text("2026-12-31 18:30 EAT")
    expect(page.locator("[data-testid=ui-status]")).to_have_text("Scheduled")
    broadcast.refresh_from_db()
    assert broadcast.scheduled_at == datetime(2026, 12, 31, 15, 30, tzinfo=UTC)
    assert Broadcast.objects.filter(client=shop.client).count() == 1  # the same broadcast, not a new one


def test_a_quiet_hours_wait_shows_on_review_detail_and_messages(
    live_server: Any, signed_in: Any, make_shop: Any, sunday_noon: Any
) -> None:
    shop = make_shop()
    page = signed_in(shop.client, R.MANAGER)
    page.goto(f"{live_server.url}/broadcasts/new/")
    page.fill("input[name=name]", "Sunday promo")
    page.fill("textarea[name=recipients]", f"{FR}\n+33612345679\n{UG}")
    page.fill("#text", "Promo -20% STOP au 36180")
    page.select_option("select[name=sender]", "Herald")
    page.select_option("select[name=purpose]", "marketing")
    page.click("#compose button[type=submit][value=review]:not(.sr-only)")
    warning = page.locator("[data-testid=warning-quiet_hours]")
    expect(warning).to_contain_text("2 recipients are in quiet hours at the send time")
    expect(warning).to_contain_text("Monday 08:00 their time")

    page.click("button[value=send]")
    expect(page).to_have_url(re.compile(rf"/broadcasts/{UUID}/$"))
    broadcast = Broadcast.objects.get(client=shop.client)
    # Monday 08:00 in Paris is 10:00 in Kampala, the zone the dashboard shows.
    expect(page.locator("[data-testid=progress-line]")).to_contain_text("1 of 3 messages done")
    expect(page.locator("[data-testid=progress-line]")).to_contain_text("2 waiting for their time")
    expect(page.locator("[data-testid=waiting]")).to_have_text(
        "2 in quiet hours in the recipient's country — the first goes Monday 2026-11-30 10:00 EAT"
    )
    api = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()["stats"]
    assert (api["waiting"], api["queued"], api["sent"]) == (2, 0, 1)

    page.click("a:text-is('All messages of this broadcast')")
    expect(page).to_have_url(re.compile(rf"/messages/\?broadcast={broadcast.pk}$"))
    expect(page.locator("[data-testid=wait-reason]")).to_have_text(
        ["In quiet hours in the recipient's country until 2026-11-30 10:00 EAT"] * 2
    )


def test_times_follow_the_zone_the_user_chooses(live_server: Any, signed_in: Any, make_shop: Any, daytime: Any) -> None:
    shop = make_shop()
    broadcast = scheduled_broadcast(shop)  # 2026-12-24 09:00 UTC
    page = signed_in(shop.client, R.VIEWER)  # any role may choose how times read
    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    expect(page.locator("[data-testid=scheduled-at]")).to_have_text("2026-12-24 12:00 EAT")  # the client's zone

    page.goto(f"{live_server.url}/settings/")
    page.select_option("[data-testid=time-zone]", "America/New_York")
    page.locator("form:has([data-testid=time-zone]) button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/settings/$"))
    expect(page.locator("ul.messages")).to_contain_text("Times are now shown in America/New_York.")
    expect(page.locator("[data-testid=time-zone]")).to_have_value("America/New_York")

    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    expect(page.locator("[data-testid=scheduled-at]")).to_have_text("2026-12-24 04:00 EST")
    page.goto(f"{live_server.url}/broadcasts/")
    row = page.locator("tbody tr", has=page.get_by_role("link", name=broadcast.name))
    expect(row.locator("[data-testid=scheduled-at]")).to_have_text("2026-12-24 04:00 EST")
    created = broadcast.created_at.astimezone(ZoneInfo("America/New_York"))
    expect(row.locator("[data-testid=created-at]")).to_have_text(created.strftime("%Y-%m-%d %H:%M EST"))


def test_one_broadcasts_figures_are_the_same_everywhere(
    live_server: Any, signed_in: Any, make_shop: Any, daytime: Any
) -> None:
    shop = make_shop()
    phones = [f"+25677200006{n}" for n in range(5)]
    broadcast = _sent(shop, name="Figures", recipients=phones)
    # The simulator delivered all five; one is then read and one fails, as later reports would say.
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    now = timezone.now()
    Message.objects.filter(pk=ids[0]).update(status="read", read_at=now)
    Message.objects.filter(pk=ids[1]).update(status="failed", failed_at=now, error_code="simulated_failure")
    api = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()["stats"]
    assert {key: api[key] for key in ("sent", "delivered", "read", "failed", "clicks")} == {
        "sent": 5,
        "delivered": 4,
        "read": 1,
        "failed": 1,
        "clicks": 0,
    }
    rate = f"{round(api['delivered'] / api['sent'] * 100)}%"
    page = signed_in(shop.client, R.VIEWER)

    page.goto(f"{live_server.url}/")
    expect(page.locator("[data-testid=total-sent]")).to_have_text(str(api["sent"]))
    expect(page.locator("[data-testid=total-delivered]")).to_have_text(str(api["delivered"]))
    expect(page.locator("[data-testid=total-rate]")).to_have_text(rate)
    recent = page.locator("tbody tr", has=page.get_by_role("link", name="Figures"))
    expect(recent.locator("[data-testid=sent]")).to_have_text(str(api["sent"]))
    expect(recent.locator("[data-testid=delivered]")).to_have_text(str(api["delivered"]))
    expect(recent.locator("[data-testid=rate]")).to_have_text(rate)

    page.goto(f"{live_server.url}/broadcasts/")
    row = page.locator("tbody tr", has=page.get_by_role("link", name="Figures"))
    expect(row.locator("[data-testid=sent]")).to_have_text(str(api["sent"]))
    expect(row.locator("[data-testid=delivered]")).to_have_text(str(api["delivered"]))
    expect(row.locator("[data-testid=rate]")).to_have_text(rate)
    expect(row.locator("[data-testid=failed]")).to_have_text(str(api["failed"]))

    page.goto(f"{live_server.url}/broadcasts/{broadcast.pk}/")
    for key in ("sent", "delivered", "read"):
        expect(page.locator(f"[data-testid=funnel-{key}]")).to_have_text(str(api[key]))
    expect(page.locator("[data-testid=funnel-clicked]")).to_have_text(str(api["unique_clicks"]))
    expect(page.locator("[data-testid=failed]")).to_have_text(str(api["failed"]))
    expect(page.locator("[data-testid=clicks]")).to_have_text(str(api["clicks"]))
    expect(page.locator("[data-testid=ctr]")).to_have_text(f"{api['ctr'] * 100:.1f}%")
    expect(page.locator("tr:has([data-testid=funnel-delivered]) td").nth(1)).to_have_text(
        f"{api['delivered'] / api['sent'] * 100:.1f}%"
    )
