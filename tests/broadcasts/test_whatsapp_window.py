"""SPEC §14, WhatsApp free text: a WhatsApp broadcast with `text` instead of a template goes only to
the numbers that wrote to the connector that will send it (the route's) within the last 24 hours, as
a `type: text` message; every other recipient is skipped with `error_code` `whatsapp_window_closed`,
counted and shown like any other skip. Checked when the message is planned and again when it is
claimed (docs/broadcasts.md, "WhatsApp free text")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client as WebClient
from django.utils import timezone

from broadcasts.claims import claim_batch, hand
from broadcasts.connectors import http as http_engine
from broadcasts.dispatch import dispatch_batch
from broadcasts.models import Broadcast, Connector, Message, Reply
from broadcasts.services import broadcast_pause, broadcasts_tick, prepare
from broadcasts.services.prepare_ahead import prepare_run
from broadcasts.whatsapp_window import SKIP_WINDOW_CLOSED, open_windows, window_recheck
from tests.broadcasts.conftest import UG
from tests.factories.accounts import ClientFactory, MembershipFactory, UserFactory
from tests.factories.contacts import ContactFactory, ContactListFactory, add_members
from tests.factories.templates_app import TemplateFactory
from tests.factories.wallets import RouteFactory
from tests.fakes.whatsapp_cloud import FakeWhatsApp, running
from wallets.models import LedgerEntry
from wallets.selectors import reservation_state

pytestmark = pytest.mark.django_db

PRICE = Decimal("0.008")  # the shop's WhatsApp route to Uganda, per message
INSIDE, OUTSIDE, NEVER, ELSEWHERE = "+256772000101", "+256772000102", "+256772000103", "+256772000104"
TOKEN, PHONE_ID, APP_SECRET, VERIFY = "EAAG-access-token", "106540352242922", "app-secret-123", "verify-me"


def wrote(shop, phone: str, hours_ago: float, *, connector: str = "simulator", client=None) -> Reply:
    """A reply from `phone` through `connector`, `hours_ago` before now: what opens the window."""
    return Reply.objects.create(
        client=client or shop.client,
        urn=f"whatsapp:{phone}",
        channel="whatsapp",
        text="Hello?",
        connector=Connector.objects.get(name=connector),
        provider_message_id=uuid.uuid4().hex,
        received_at=timezone.now() - timedelta(hours=hours_ago),
    )


def create_text(shop, recipients, **body):
    return shop.create(channel="whatsapp", recipients=recipients, text="Hi {{first_name|there}}", **body)


def statuses(broadcast) -> dict[str, tuple[str, str]]:
    messages = Message.objects.filter(broadcast=broadcast, is_test=False)
    return {m.urn.removeprefix("whatsapp:"): (m.status, m.error_code) for m in messages}


CLOSED = ("skipped", SKIP_WINDOW_CLOSED)


# --- who is inside the window -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours_ago", "connector", "inside"),
    [
        (23, "simulator", True),  # wrote 23 h ago to the connector of the route: inside
        (23.99, "simulator", True),
        (25, "simulator", False),  # 25 h ago: Meta's 24-hour window has closed
        (24.01, "simulator", False),
        (None, "simulator", False),  # never wrote
        (1, "simulator-whatsapp", False),  # wrote lately, but to another WhatsApp number (connector)
    ],
)
def test_only_numbers_that_wrote_to_the_routes_connector_within_24_hours_are_sent(
    shop, daytime, hours_ago, connector, inside
):
    wrote(shop, INSIDE, 1)
    if hours_ago is not None:
        wrote(shop, OUTSIDE, hours_ago, connector=connector)
    response = create_text(shop, [INSIDE, OUTSIDE])
    assert response.status_code == 201, response.content
    expected = ("queued", "") if inside else CLOSED
    assert statuses(shop.broadcast(response)) == {INSIDE: ("queued", ""), OUTSIDE: expected}
    assert response.json()["skipped"]["whatsapp_window_closed"] == (0 if inside else 1)
    assert response.json()["total_recipients"] == (2 if inside else 1)


def test_a_reply_kept_for_another_client_opens_no_window(shop, daytime):
    wrote(shop, INSIDE, 1)
    wrote(shop, OUTSIDE, 1, client=ClientFactory())  # the same number and connector, another tenant's
    broadcast = shop.broadcast(create_text(shop, [INSIDE, OUTSIDE]))
    assert statuses(broadcast)[OUTSIDE] == CLOSED


def test_the_window_belongs_to_the_number_not_the_contact(shop, daytime):
    """A contact named by id is reached on its phone: the reply must come from that number."""
    contact = ContactFactory(client=shop.client, phone=INSIDE)
    changed = ContactFactory(client=shop.client, phone=OUTSIDE)
    wrote(shop, INSIDE, 2)
    Reply.objects.create(  # the contact wrote, but from a number it no longer has
        client=shop.client, contact=changed, urn=f"whatsapp:{NEVER}", channel="whatsapp", text="Hi",
        connector=shop.connector, received_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    response = shop.create(channel="whatsapp", contacts=[str(contact.pk), str(changed.pk)], text="Hello")
    assert response.status_code == 201, response.content
    assert statuses(shop.broadcast(response)) == {INSIDE: ("queued", ""), OUTSIDE: CLOSED}


def test_open_windows_is_one_query_whatever_the_number_of_recipients(shop, daytime, django_assert_num_queries):
    for i in range(30):
        wrote(shop, f"+2567721{i:05d}", 1)
    pairs = {(f"whatsapp:+2567721{i:05d}", "simulator") for i in range(60)}
    with django_assert_num_queries(1):
        found = open_windows(client_id=shop.client.pk, pairs=pairs, now=timezone.now())
    assert found == {(f"whatsapp:+2567721{i:05d}", "simulator") for i in range(30)}


def test_opt_outs_still_come_first(shop, daytime):
    ContactFactory(client=shop.client, phone=OUTSIDE, opted_out=True, opted_out_at=timezone.now())
    wrote(shop, INSIDE, 1)
    wrote(shop, OUTSIDE, 1)  # wrote lately (not STOP), but opted out: opted_out, as any channel
    response = create_text(shop, [INSIDE, OUTSIDE, NEVER])
    assert statuses(shop.broadcast(response)) == {
        INSIDE: ("queued", ""),
        OUTSIDE: ("skipped", "opted_out"),
        NEVER: CLOSED,
    }
    assert response.json()["skipped"] == {
        "invalid": 0,
        "opted_out": 1,
        "unroutable": 0,
        "duplicates": 0,
        "whatsapp_window_closed": 1,
    }


def test_an_unroutable_number_is_unroutable_not_window_closed(shop, daytime):
    wrote(shop, INSIDE, 1)
    response = create_text(shop, [INSIDE, "+254712000001"])  # no WhatsApp route to Kenya
    assert response.json()["skipped"]["unroutable"] == 1
    assert response.json()["skipped"]["whatsapp_window_closed"] == 0


# --- counted, priced and shown like any other skip ---------------------------------------------


def test_skips_are_counted_and_only_those_inside_are_reserved(shop, daytime):
    wrote(shop, INSIDE, 3)
    response = create_text(shop, [INSIDE, OUTSIDE, NEVER])
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["total_recipients"], body["total_segments"], Decimal(body["estimated_cost"])) == (1, 1, PRICE)
    assert body["skipped"]["whatsapp_window_closed"] == 2
    broadcast = shop.broadcast(response)
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == PRICE
    assert shop.refresh().reserved == PRICE
    skipped = Message.objects.filter(broadcast=broadcast, status="skipped")
    assert {(m.cost, m.error_code) for m in skipped} == {(Decimal(0), SKIP_WINDOW_CLOSED)}
    # The message log and the broadcast's detail show them as they show any skip.
    log = shop.api.get("/api/v1/messages/", {"broadcast": str(broadcast.pk), "status": "skipped"}).json()
    assert sorted((m["urn"], m["error_code"]) for m in log["results"]) == [
        (f"whatsapp:{OUTSIDE}", SKIP_WINDOW_CLOSED),
        (f"whatsapp:{NEVER}", SKIP_WINDOW_CLOSED),
    ]
    detail = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
    assert detail["skipped"]["whatsapp_window_closed"] == 2


def test_the_dashboard_shows_the_skips_with_their_reason(shop, daytime):
    wrote(shop, INSIDE, 3)
    broadcast = shop.broadcast(create_text(shop, [INSIDE, OUTSIDE, NEVER]))
    user = UserFactory()
    MembershipFactory(user=user, client=shop.client, role="viewer")
    web = WebClient()
    web.force_login(user)
    page = web.get(f"/broadcasts/{broadcast.pk}/").content.decode()
    assert "0 duplicates, 2 outside WhatsApp's 24-hour window." in page
    assert f"error_code={SKIP_WINDOW_CLOSED}" in page  # the reasons table links to the message log


def test_precheck_reports_the_expected_skips(shop, daytime):
    wrote(shop, INSIDE, 3)
    body = shop.precheck(channel="whatsapp", recipients=[INSIDE, OUTSIDE, NEVER], text="Hi").json()
    assert (body["total_contacts"], Decimal(body["total_cost"])) == (1, PRICE)
    assert body["whatsapp_window_closed_count"] == 2
    assert [line["contacts"] for line in body["breakdown"]] == [1]
    assert (body["unroutable_count"], body["invalid_count"], body["opted_out_count"]) == (0, 0, 0)
    [warning] = [w for w in body["warnings"] if w["code"] == "whatsapp_window_closed"]
    assert warning["message"].startswith("2 recipients have not written to this WhatsApp number")
    assert not Message.objects.exists()
    assert not Broadcast.objects.exists()


def test_precheck_of_other_broadcasts_has_no_window_count(shop, daytime):
    TemplateFactory(client=shop.client, channel="whatsapp", name="promo", content="Hi", status="approved")
    template = shop.precheck(channel="whatsapp", recipients=[NEVER], text=None, template="promo").json()
    sms = shop.precheck(recipients=[UG]).json()
    assert "whatsapp_window_closed_count" not in template
    assert "whatsapp_window_closed_count" not in sms
    assert template["total_contacts"] == 1


def test_simulate_counts_them_too(shop, daytime):
    wrote(shop, INSIDE, 3)
    body = create_text(shop, [INSIDE, NEVER], simulate=True).json()
    assert (body["simulated"], body["total_recipients"], body["skipped"]["whatsapp_window_closed"]) == (True, 1, 1)


def test_nobody_inside_the_window_is_refused_and_creates_nothing(shop, daytime):
    wrote(shop, OUTSIDE, 30)
    response = create_text(shop, [OUTSIDE, NEVER])
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "no_valid_recipients"
    assert error["fields"]["recipients"] == [
        "None of the recipients can be sent to: WhatsApp free text goes only to numbers that wrote to this "
        "WhatsApp number in the last 24 hours (2 did not); send an approved template instead."
    ]
    assert not Broadcast.objects.exists()
    assert not Message.objects.exists()
    assert shop.refresh().reserved == 0


# --- over the wire: a `type: text` message, charged only when sent -------------------------------


@pytest.fixture
def fake() -> Iterator[FakeWhatsApp]:
    yield from running(access_token=TOKEN, phone_number_id=PHONE_ID)
    http_engine.close_clients()


@pytest.fixture
def wa(make_shop, fake):
    """The shop's routes go through a WhatsApp Cloud connector (named "simulator", as the routes say)."""
    config = {"phone_number_id": PHONE_ID, "access_token": TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY}
    return make_shop(channel="whatsapp", backend="whatsapp_cloud", config={**config, "base_url": fake.base_url})


def test_free_text_goes_out_as_a_text_message_and_only_those_sent_are_charged(
    wa, fake, daytime, django_capture_on_commit_callbacks
):
    ContactFactory(client=wa.client, phone=INSIDE, first_name="Amina")
    wrote(wa, INSIDE, 23)
    with django_capture_on_commit_callbacks(execute=True):
        response = create_text(wa, [INSIDE, OUTSIDE, NEVER])
    assert response.status_code == 201, response.content
    assert [r.body for r in fake.requests] == [
        {"messaging_product": "whatsapp", "to": INSIDE[1:], "type": "text", "text": {"body": "Hi Amina"}}
    ]
    broadcast = wa.broadcast(response)
    assert broadcast.status == "sent"
    assert statuses(broadcast) == {
        INSIDE: ("sent", ""),
        OUTSIDE: CLOSED,
        NEVER: CLOSED,
    }
    wallet = wa.refresh()
    assert (wallet.balance, wallet.reserved) == (Decimal("100") - PRICE, 0)
    captured = LedgerEntry.objects.filter(broadcast_id=broadcast.pk, kind="capture").values_list("amount", flat=True)
    assert list(captured) == [PRICE]
    stats = wa.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()["stats"]
    assert (stats["sent"], stats["failed"], stats["queued"]) == (1, 0, 0)


def test_template_broadcasts_are_unchanged_and_reach_numbers_that_never_wrote(
    wa, fake, daytime, django_capture_on_commit_callbacks
):
    TemplateFactory(client=wa.client, channel="whatsapp", name="order_ready", content="Hi {{first_name|there}}",
                    status="approved")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        response = wa.create(channel="whatsapp", recipients=[NEVER, OUTSIDE], text=None, template="order_ready")
    assert response.status_code == 201, response.content
    assert "whatsapp_window_closed" not in response.json()["skipped"]
    assert sorted((r.body["to"], r.body["type"], "text" in r.body) for r in fake.requests) == [
        (OUTSIDE[1:], "template", False),
        (NEVER[1:], "template", False),
    ]
    assert fake.requests[0].body["template"] == {
        "name": "order_ready",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "there"}]}],
    }
    assert set(statuses(wa.broadcast(response)).values()) == {("sent", "")}


def test_track_links_work_in_free_text(wa, fake, daytime, django_capture_on_commit_callbacks):
    """Free text is Herald's own text: its links can be rewritten (a template's cannot)."""
    wrote(wa, INSIDE, 1)
    with django_capture_on_commit_callbacks(execute=True):
        response = wa.create(
            channel="whatsapp", recipients=[INSIDE], text="See https://example.com/offer", track_links=True
        )
    assert response.status_code == 201, response.content
    [request] = fake.requests
    assert "/r/" in request.body["text"]["body"]
    assert "example.com" not in request.body["text"]["body"]


# --- checked again when claimed -----------------------------------------------------------------


def test_a_scheduled_broadcast_skips_at_send_time_whoever_window_closed_meanwhile(
    wa, fake, daytime, django_capture_on_commit_callbacks
):
    wrote(wa, INSIDE, 23.5)  # inside when planned, 24.5 h old at send time
    wrote(wa, OUTSIDE, 1)  # still inside at send time
    wrote(wa, NEVER, 23.8)  # closes too, but writes again before the send: goes
    at = timezone.now() + timedelta(hours=1)
    response = create_text(wa, [INSIDE, OUTSIDE, NEVER], schedule_mode="scheduled", scheduled_at=at.isoformat())
    assert response.status_code == 201, response.content
    broadcast = wa.broadcast(response)
    assert (broadcast.total_recipients, broadcast.skipped_window_closed) == (3, 0)
    assert wa.refresh().reserved == 3 * PRICE
    with time_machine.travel(at + timedelta(seconds=5), tick=False):
        wrote(wa, NEVER, 0.5)
        with django_capture_on_commit_callbacks(execute=True):
            assert broadcasts_tick()["started"] == 1
    assert sorted(r.body["to"] for r in fake.requests) == [OUTSIDE[1:], NEVER[1:]]
    assert {r.body["type"] for r in fake.requests} == {"text"}
    broadcast.refresh_from_db()
    assert statuses(broadcast) == {
        INSIDE: CLOSED,
        OUTSIDE: ("sent", ""),
        NEVER: ("sent", ""),
    }
    skipped = Message.objects.get(broadcast=broadcast, urn=f"whatsapp:{INSIDE}")
    assert (skipped.cost, skipped.attempts, skipped.sent_at, skipped.handed_at) == (0, 0, None, None)
    # Counted like a skip when planned: out of the recipients, into skipped; released, not charged.
    assert (broadcast.status, broadcast.total_recipients, broadcast.skipped_window_closed) == ("sent", 2, 1)
    detail = wa.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
    assert (detail["skipped"]["whatsapp_window_closed"], detail["stats"]["sent"]) == (1, 2)
    wallet = wa.refresh()
    assert (wallet.balance, wallet.reserved) == (Decimal("100") - 2 * PRICE, 0)
    captures = LedgerEntry.objects.filter(broadcast_id=broadcast.pk, kind="capture")
    assert sum(captures.values_list("amount", flat=True)) == 2 * PRICE


def test_a_drip_checks_each_message_when_its_slot_comes(shop, daytime):
    wrote(shop, INSIDE, 23.99)  # the first slot is now; its window is open
    wrote(shop, OUTSIDE, 23.99)  # the second slot is 60 s later: by then its window has closed
    broadcast = shop.broadcast(create_text(shop, [INSIDE, OUTSIDE], schedule_mode="drip", drip_rate=1))
    start = timezone.now()
    dispatch_batch(broadcast)
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    sent = Message.objects.filter(broadcast=broadcast, sent_at__isnull=False).values_list("urn", flat=True)
    assert (list(sent), statuses(broadcast)[OUTSIDE]) == ([f"whatsapp:{INSIDE}"], CLOSED)


def test_a_retry_whose_window_closed_is_skipped_not_sent(shop, daytime, recorder):
    wrote(shop, INSIDE, 23.99, connector="recorder")  # 36 s of window left
    broadcast = shop.broadcast(create_text(shop, [INSIDE]))
    recorder.mode = "transient"
    dispatch_batch(broadcast)
    message = Message.objects.get(broadcast=broadcast)
    assert (message.status, message.error_code, message.attempts) == ("sending", "provider_busy", 1)
    recorder.mode = "ok"
    with time_machine.travel(timezone.now() + timedelta(minutes=10), tick=False):
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    message.refresh_from_db()
    assert recorder.sent == [message.pk]  # the first attempt only
    assert (message.status, message.error_code, message.attempts, message.cost) == (
        "skipped", SKIP_WINDOW_CLOSED, 1, 0
    )  # fmt: skip
    broadcast.refresh_from_db()
    assert (broadcast.skipped_window_closed, broadcast.total_recipients) == (1, 0)
    assert shop.refresh().reserved == 0
    assert shop.wallet.balance == Decimal("100")


def test_quiet_hours_still_hold_marketing_and_the_window_is_checked_when_they_end(shop, recorder):
    RouteFactory(channel="whatsapp", country_code="FR", currency="USD", price_per_segment=PRICE, route_code="WA_FR",
                 connector="recorder")  # fmt: skip
    paris, later = "+33612345601", "+33612345602"
    night = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)  # Thursday 23:00 in Paris: quiet until 08:00
    with time_machine.travel(night, tick=False):
        wrote(shop, paris, 20, connector="recorder")  # closes at 02:00 UTC, before the quiet hours end
        wrote(shop, later, 1, connector="recorder")  # open until 21:00 UTC Friday
        marketing = shop.broadcast(create_text(shop, [paris, later]))
        transactional = shop.broadcast(create_text(shop, [paris], purpose="transactional"))
        dispatch_batch(marketing)
        dispatch_batch(transactional)
    assert statuses(transactional) == {paris: ("sent", "")}  # quiet hours are for marketing only
    assert set(statuses(marketing).values()) == {("pending", "")}
    with time_machine.travel(datetime(2026, 11, 27, 7, 1, tzinfo=UTC), tick=False):  # Friday 08:01 in Paris
        dispatch_batch(Broadcast.objects.get(pk=marketing.pk))
    assert statuses(marketing) == {paris: CLOSED, later: ("sent", "")}


def test_a_paused_broadcast_gives_closed_messages_back_instead_of_skipping_them(shop, daytime):
    wrote(shop, INSIDE, 23.99)
    broadcast = shop.broadcast(create_text(shop, [INSIDE], schedule_mode="drip", drip_rate=1))
    later = timezone.now() + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        claimed, _ = claim_batch(broadcast, limit=10, now=timezone.now(), token="t-1")
        broadcast_pause(broadcast=broadcast)  # between the claim and the recheck
        assert window_recheck(broadcast=broadcast, claimed=claimed, token="t-1", now=timezone.now()) == []
    message = Message.objects.get(broadcast=broadcast)
    assert (message.status, message.attempts, message.error_code) == ("queued", 0, "")  # as if never claimed
    assert Broadcast.objects.get(pk=broadcast.pk).skipped_window_closed == 0


def test_a_message_handed_over_before_is_left_to_the_unknown_outcome_rules(shop, daytime, recorder):
    """A sender died after handing it to the provider: it may have been delivered, so it is not
    called skipped; a non-idempotent connector fails it as delivery_unknown, as any such message."""
    wrote(shop, INSIDE, 23.99, connector="recorder")
    broadcast = shop.broadcast(create_text(shop, [INSIDE]))
    [dead] = claim_batch(broadcast, limit=10, now=timezone.now(), token="dead")[0]
    assert hand(message_ids=[dead.id], token="dead", broadcast_id=None) == [dead.id]  # then it dies
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):  # its lease ran out
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    assert recorder.sent == []
    assert statuses(broadcast) == {INSIDE: ("failed", "delivery_unknown")}
    assert Broadcast.objects.get(pk=broadcast.pk).skipped_window_closed == 0


def test_template_broadcasts_are_never_rechecked(shop, daytime):
    TemplateFactory(client=shop.client, channel="whatsapp", name="promo", content="Hi", status="approved")
    broadcast = shop.broadcast(shop.create(channel="whatsapp", recipients=[NEVER], text=None, template="promo"))
    claimed, _ = claim_batch(broadcast, limit=10, now=timezone.now(), token="t-2")
    assert window_recheck(broadcast=broadcast, claimed=claimed, token="t-2", now=timezone.now()) == claimed


# --- large audiences and test sends --------------------------------------------------------------


def test_a_background_preparation_counts_the_skips_chunk_by_chunk(shop, daytime, settings, monkeypatch):
    settings.BROADCAST_SYNC_LIMIT = 5
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 4)
    big = ContactListFactory(client=shop.client, name="Customers")
    phones = [f"+2567723{i:05d}" for i in range(10)]
    add_members(big, *(ContactFactory(client=shop.client, phone=p) for p in phones))
    for phone in phones[::3]:  # 0, 3, 6, 9: four inside
        wrote(shop, phone, 2)
    response = shop.create(channel="whatsapp", contact_lists=[str(big.pk)], text="Hi")
    assert response.json()["preparing"] is True, response.content
    assert prepare_run(broadcast_id=response.json()["id"]) is False
    broadcast = shop.broadcast(response)
    assert (broadcast.total_recipients, broadcast.skipped_window_closed) == (4, 6)
    assert broadcast.estimated_cost == 4 * PRICE
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == 4 * PRICE


def test_a_test_send_outside_the_window_is_refused_with_the_reason(shop, daytime):
    wrote(shop, INSIDE, 1)
    broadcast = shop.broadcast(create_text(shop, [INSIDE]))
    refused = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/test/", {"recipients": [NEVER]}, format="json")
    assert refused.status_code == 400
    [reason] = refused.json()["error"]["fields"]["recipients"]
    assert reason == (
        f"Not written to this WhatsApp number in the last 24 hours, so free text cannot reach them: whatsapp:{NEVER}. "
        "Test with an approved template, or write from those numbers first."
    )
    assert not Message.objects.filter(is_test=True).exists()
    sent = shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/test/", {"recipients": [INSIDE]}, format="json")
    assert sent.status_code == 200, sent.content
    assert [m["status"] for m in sent.json()["results"]] == ["queued"]
