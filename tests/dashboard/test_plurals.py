# ruff: noqa: F811 - the recorder fixture is imported, then used by name
"""Issue 21: plurals right everywhere. Each main page is rendered with counts of exactly one (one
recipient, one contact in a list, one part, one click, one row…) and no "1 recipients"-style text
shows; the same pages with two still read in the plural."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as WebClient
from django.utils import timezone

from accounts.models import Client, Membership
from broadcasts import services
from broadcasts.clicks import clicks_apply
from broadcasts.dispatch import dispatch_batch, dispatch_run
from broadcasts.models import Broadcast, Message
from contacts.models import ContactImport
from contacts.services.lists import contact_list_add_contacts
from tests.broadcasts.recorder import recorder  # noqa: F401 - the fixture
from tests.factories.contacts import ContactFactory, ContactListFactory
from tests.factories.templates_app import TemplateFactory
from tracking.models import TrackedLink
from tracking.services import links_write

pytestmark = pytest.mark.django_db

R = Membership.Role
UGANDA = ["+256772000001", "+256772000002"]
FRANCE = ["+33612345678", "+33612345679"]
URL = "https://shop.example.com/sale"
PERSON = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
SUNDAY_NOON = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)  # 12:00 in Paris: Sunday, quiet all day
ONE_PART, TWO_PARTS = "Hello there", "Hello there, " + "a longer text " * 12

# "1 <word>s" that reads right after one: none on these pages so far.
ALLOWED_AFTER_ONE: frozenset[str] = frozenset()
ONE_PLURAL = re.compile(r"\b1 (\w+s)\b")


INLINE = r"a|abbr|b|code|em|i|kbd|q|s|small|span|strong|sub|sup|time|u"


def visible(body: str) -> str:
    """The page's text as a person reads it: no scripts, styles or JSON data; inline tags vanish
    ("<strong>1</strong> part" reads "1 part"), any other tag breaks the line (a figure's value and
    the next figure's name, "1" then "Clicks", are not one phrase); entities read."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S | re.I)
    body = re.sub(r"\s+", " ", body)
    body = re.sub(rf"</?(?:{INLINE})\b[^>]*>", "", body, flags=re.I)
    body = re.sub(r"<[^>]+>", "\n", body)
    return re.sub(r" *\n[\n ]*", "\n", html.unescape(body))


def read(web: WebClient, path: str) -> str:
    response = web.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return visible(response.content.decode())


def no_one_plural(text: str) -> None:
    """Nothing says "1 <plural>", nor dodges the question with "(s)"."""
    wrong = [m.group(0) for m in ONE_PLURAL.finditer(text) if m.group(1) not in ALLOWED_AFTER_ONE]
    assert not wrong, f"singular counts in the plural: {wrong} in {text!r}"
    assert "(s)" not in text, text


def says(text: str, n: int, one: str, many: str) -> None:
    """`text` reads `one` when n is 1 and `many` otherwise (both with {n} for the count); with one,
    nothing says "1 <plural>"."""
    expected = (one if n == 1 else many).format(n=n)
    assert expected in text, f"{expected!r} not in {text!r}"
    if n == 1:
        no_one_plural(text)


@pytest.mark.parametrize("n", [1, 2])
def test_broadcast_pages_with_one_recipient_duplicate_message_and_click(login, shop, daytime, client, n):
    """The broadcast's page, its polled fragment, the list, the overview, the log and the links pages."""
    recipients = UGANDA[:n] * 2  # n recipients, each twice: n duplicates
    response = shop.create(name="Sale", recipients=recipients, sender="Herald", text=f"Sale {URL}")
    assert response.status_code == 201, response.content
    broadcast = shop.broadcast(response)
    messages = list(Message.objects.filter(broadcast=broadcast).order_by("pk"))
    assert len(messages) == n
    now = timezone.now()
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(status="delivered", sent_at=now, delivered_at=now)
    links_write(
        client_id=shop.client.pk,
        broadcast_id=broadcast.pk,
        items=[(m.pk, URL, f"Plur{i:03d}") for i, m in enumerate(messages, start=1)],
    )
    for _ in range(n):  # one person's n clicks
        assert client.get("/r/Plur001", HTTP_USER_AGENT=PERSON).status_code == 302
    clicks_apply()
    web = login(R.MANAGER, shop.client)

    detail = read(web, f"/broadcasts/{broadcast.pk}/")
    says(detail, n, "· {n} recipient ·", "· {n} recipients ·")
    says(detail, n, "{n} of {n} message done", "{n} of {n} messages done")
    says(detail, n, "{n} duplicate.", "{n} duplicates.")
    says(read(web, f"/broadcasts/{broadcast.pk}/progress/"), n, "{n} of {n} message done", "{n} of {n} messages done")
    for path in ["/", "/broadcasts/", "/messages/", "/tracking/", f"/broadcasts/{broadcast.pk}/test/"]:
        no_one_plural(read(web, path))
    link = TrackedLink.objects.get(broadcast_id=broadcast.pk, url=URL)
    assert (link.recipients, link.clicks) == (n, n)
    no_one_plural(read(web, f"/tracking/{link.pk}/"))

    # While its audience is prepared: "1 of about 1 recipient read".
    Broadcast.objects.filter(pk=broadcast.pk).update(preparing=True, preparation_total=n, preparation_processed=n)
    says(
        read(web, f"/broadcasts/{broadcast.pk}/"), n, "{n} of about {n} recipient read", "of about {n} recipients read"
    )

    # A test send's flash message.
    sent = web.post(f"/broadcasts/{broadcast.pk}/test/", {"recipients": "\n".join(UGANDA[:n])}, follow=True)
    says(
        visible(sent.content.decode()),
        n,
        "Test message sent to {n} recipient.",
        "Test message sent to {n} recipients.",
    )


@pytest.mark.parametrize("n", [1, 2])
def test_review_and_waiting_with_one_contact_in_quiet_hours(login, shop, recorder, n):
    """The review of n picked French contacts on a Sunday: n contacts picked, n parts, n in quiet
    hours, n lacking STOP; once sent, n waiting on the broadcast's page."""
    Client.objects.filter(pk=shop.client.pk).update(timezone="Europe/Paris")
    shop.client.refresh_from_db()
    people = [ContactFactory(client=shop.client, phone=phone) for phone in FRANCE[:n]]
    web = login(R.MANAGER, shop.client)
    form = {
        "name": "Sunday promo",
        "channel": "sms",
        "contacts": [str(p.pk) for p in people],
        "content_mode": "text",
        "text": "Promo -20%",
        "sender": "Herald",
        "schedule_mode": "now",
        "purpose": "marketing",
    }
    with time_machine.travel(SUNDAY_NOON, tick=False):
        review = visible(web.post("/broadcasts/new/", {**form, "step": "review"}).content.decode())
        says(review, n, "{n} contact picked.", "{n} contacts picked.")
        assert "(1 part a message)" in review
        says(
            review,
            n,
            "{n} recipient is in quiet hours at the send time: they will receive it when their quiet hours end, on ",
            "{n} recipients are in quiet hours at the send time: they will receive it when their quiet hours end, "
            "the first on ",
        )
        says(review, n, "{n} marketing SMS to France lacks the STOP", "{n} marketing SMS to France lack the STOP")
        refused = web.post("/broadcasts/new/", {**form, "step": "send"})  # the create's own refusal
        assert refused.status_code == 400
        says(visible(refused.content.decode()), n, "{n} message to France does not.", "{n} messages to France do not.")

        long_review = visible(
            web.post(
                "/broadcasts/new/", {**form, "text": TWO_PARTS + " STOP au 36180", "step": "review"}
            ).content.decode()
        )
        assert "(2 parts a message)" in long_review

        web.post("/broadcasts/new/", {**form, "text": "Promo -20% STOP au 36180", "step": "send"})
        broadcast = Broadcast.objects.get()
        dispatch_batch(broadcast)
        detail = read(web, f"/broadcasts/{broadcast.pk}/")
        says(detail, n, "· {n} recipient ·", "· {n} recipients ·")
        says(detail, n, "0 of {n} message done", "0 of {n} messages done")
        says(
            detail,
            n,
            "{n} in quiet hours in the recipient's country — it goes Monday",
            "{n} in quiet hours in the recipient's country — the first goes Monday",
        )


@pytest.mark.parametrize("n", [1, 2])
def test_contact_list_and_imports_with_one_contact_and_one_row(login, shop, django_capture_on_commit_callbacks, n):
    contact_list = ContactListFactory(client=shop.client, name="VIP")
    people = [ContactFactory(client=shop.client, phone=phone) for phone in UGANDA[:n]]
    contact_list_add_contacts(contact_list=contact_list, contact_ids=[p.pk for p in people])
    web = login(R.MANAGER, shop.client)

    says(read(web, f"/contacts/lists/{contact_list.pk}/"), n, "· {n} contact ·", "· {n} contacts ·")
    no_one_plural(read(web, "/contacts/lists/"))
    no_one_plural(read(web, "/contacts/"))
    says(
        read(web, f"/contacts/lists/{contact_list.pk}/delete/"),
        n,
        "Its {n} contact stays; only the list goes.",
        "Its {n} contacts stay; only the list goes.",
    )
    no_one_plural(read(web, "/broadcasts/new/"))  # the lists' sizes beside their names

    rows = "".join(f"{phone}\n" for phone in ["+256772000101", "+256772000102"][:n])
    for name, body in [("rows.csv", rows), ("twice.csv", rows + rows)]:
        with django_capture_on_commit_callbacks(execute=True):
            web.post("/contacts/imports/", {"file": SimpleUploadedFile(name, f"phone\n{body}".encode())})
    single = ContactImport.objects.get(file_name="rows.csv")
    twice = ContactImport.objects.get(file_name="twice.csv")
    says(read(web, f"/contacts/imports/{single.pk}/"), n, "{n} of {n} row (", "{n} of {n} rows (")
    says(read(web, f"/contacts/imports/{twice.pk}/"), n, "{n} duplicate.", "{n} duplicates.")
    no_one_plural(read(web, "/contacts/imports/"))


@pytest.mark.parametrize("n", [1, 2])
def test_parts_and_uploads_in_the_composer_and_templates(login, shop, n):
    text = ONE_PART if n == 1 else TWO_PARTS
    web = login(R.MANAGER, shop.client)
    counter = visible(web.post("/broadcasts/new/counter/", {"text": text}).content.decode())
    says(counter, n, "{n} part ·", "{n} parts ·")

    template = TemplateFactory(client=shop.client, content=text)
    says(read(web, f"/templates/{template.pk}/"), n, "· {n} part", "· {n} parts")
    no_one_plural(read(web, "/templates/"))

    upload = SimpleUploadedFile("people.txt", "\n".join(UGANDA[:n]).encode())
    uploaded = web.post(
        "/broadcasts/new/",
        {
            "name": "Promo",
            "channel": "sms",
            "content_mode": "text",
            "text": text,
            "step": "edit",
            "recipients_file": upload,
        },
    )
    says(visible(uploaded.content.decode()), n, "{n} recipient loaded.", "{n} recipients loaded.")


@pytest.mark.parametrize("n", [1, 2])
def test_the_wallet_notes_a_retry_of_one_message(login, shop, daytime, recorder, n):
    broadcast = shop.broadcast(shop.create(recipients=UGANDA[:n], sender="Herald"))
    recorder.mode = "permanent"
    dispatch_run(broadcast_id=str(broadcast.pk))
    recorder.mode = "ok"
    services.broadcast_retry_failed(broadcast=Broadcast.objects.get(pk=broadcast.pk))
    web = login(R.VIEWER, shop.client)
    says(read(web, "/wallet/"), n, "Retry of {n} message", "Retry of {n} messages")
    says(read(web, f"/broadcasts/{broadcast.pk}/"), n, "· {n} recipient ·", "· {n} recipients ·")
