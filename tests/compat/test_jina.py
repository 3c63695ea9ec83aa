# ruff: noqa: F811 - the shop fixtures are imported from the broadcasts suite, then used by name
"""SPEC §14, Jina Connect (seed 004, COMPAT.md §6): `/jina/broadcast/` as a thin alias of the native
broadcasts API — `platform` ↔ channel, `template_name`, `recipients` (contact ids), `scheduled_at` /
`scheduled_time`, upper-case statuses and the `*_count` figures; errors in Herald's envelope."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Scope
from broadcasts.models import Broadcast, Message
from contacts.models import Contact
from contacts.services import contact_list_create, contact_opt_out
from tests.broadcasts.conftest import (  # noqa: F401 - fixtures
    UG,
    Shop,
    _ledger_replays,
    daytime,
    make_shop,
    shop,
)
from tests.factories.contacts import ContactFactory, add_members
from tests.factories.templates_app import TemplateFactory
from tests.helpers import assert_error
from wallets.models import Wallet

pytestmark = pytest.mark.django_db

URL = "/jina/broadcast/"
COUNTS = (
    "pending_count", "queued_count", "sending_count", "sent_count", "delivered_count", "read_count", "failed_count",
    "blocked_count", "total_messages", "success_count",
)  # fmt: skip


def contacts(shop: Shop, n: int = 2) -> list[Contact]:
    return [ContactFactory(client=shop.client, phone=f"+25677{900 + i:07d}") for i in range(n)]


def create(shop: Shop, **body: Any) -> Any:
    return shop.api.post(URL, {"name": "Summer Sale Campaign", **body}, format="json")


def nothing_created(shop: Shop) -> None:
    assert not Broadcast.objects.filter(client=shop.client).exists()
    assert not Message.objects.exists()
    wallet = Wallet.objects.get(pk=shop.client.pk)
    assert wallet.reserved == Decimal(0)


# --- create -------------------------------------------------------------------------------------


def test_the_seeds_create_makes_the_native_broadcast(shop, daytime):
    """The seed's curl: WHATSAPP, a template by name, contact uuids, scheduled_at."""
    TemplateFactory(client=shop.client, name="summer_sale", channel="whatsapp", content="Sale!", status="approved")
    people = contacts(shop)
    at = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    response = create(
        shop,
        platform="WHATSAPP",
        template_name="summer_sale",
        recipients=[str(c.pk) for c in people],
        scheduled_at=at.isoformat().replace("+00:00", "Z"),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["platform"], body["template_name"], body["ui_status"]) == (
        "SCHEDULED",
        "WHATSAPP",
        "summer_sale",
        "Scheduled",
    )
    assert body["recipients"] == [str(c.pk) for c in people]
    assert body["scheduled_at"] == body["scheduled_time"]
    assert {key: body[key] for key in COUNTS} == {
        **dict.fromkeys(COUNTS, 0),
        "pending_count": 2,  # scheduled: held by their time (Herald's `waiting`)
        "total_messages": 2,
    }
    assert body["initial_cost"] == body["estimated_cost"] == "0.016000"
    native = shop.api.get(f"/api/v1/broadcasts/{body['id']}/").json()
    assert (native["channel"], native["status"], native["template"], native["schedule_mode"]) == (
        "whatsapp",
        "scheduled",
        "summer_sale",
        "scheduled",
    )
    assert native["name"] == "Summer Sale Campaign"
    broadcast = Broadcast.objects.get(pk=body["id"])
    assert broadcast.scheduled_at == at
    assert broadcast.created_by_key == shop.api.api_key
    assert {k: v for k, v in body.items() if k in native and k not in ("status",)} == {
        k: v for k, v in native.items() if k != "status"
    }


def test_scheduled_time_is_jinas_codes_name_for_scheduled_at(shop, daytime):
    at = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)
    response = create(shop, platform="sms", text="Hi", recipients=[str(c.pk) for c in contacts(shop)],
                      scheduled_time=at.isoformat())  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "SCHEDULED"
    assert Broadcast.objects.get().scheduled_at == at


def test_a_create_without_a_time_goes_now_as_queued(shop, daytime):
    response = create(shop, platform="SMS", text="Hello {{first_name}}", recipients=[str(c.pk) for c in contacts(shop)])
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["ui_status"], body["platform"], body["scheduled_time"]) == (
        "QUEUED",
        "Ongoing",
        "SMS",
        None,
    )
    assert body["text"] == "Hello {{first_name}}"
    assert body["template_name"] is None
    assert Message.objects.filter(broadcast_id=body["id"]).count() == 2


def test_platform_defaults_to_sms_and_is_read_in_any_case(shop, daytime):
    people = [str(c.pk) for c in contacts(shop)]
    assert create(shop, text="Hi", recipients=people).json()["platform"] == "SMS"
    assert create(shop, text="Hi", recipients=people, platform="Sms").json()["platform"] == "SMS"


def test_status_draft_saves_without_sending(shop, daytime):
    response = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)], status="DRAFT")
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "DRAFT"
    assert Broadcast.objects.get().status == "draft"
    assert not Message.objects.exists()
    assert shop.refresh().reserved == 0


@pytest.mark.parametrize("status", ["SENT", "CANCELLED", "sending", 3])
def test_a_create_may_only_be_draft_or_queued(shop, status):
    response = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)], status=status)
    assert list(assert_error(response, 400, "invalid_request_error")["fields"]) == ["status"]
    nothing_created(shop)


def test_contact_lists_take_list_numbers_or_ids(shop, daytime):
    people = contacts(shop, 3)
    first = contact_list_create(client=shop.client, name="A")
    second = contact_list_create(client=shop.client, name="B")
    add_members(first, people[0], people[1])
    add_members(second, people[2])
    response = create(shop, text="Hi", contact_lists=[1, str(second.pk)])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["contact_lists"] == [str(first.pk), str(second.pk)]
    assert body["total_recipients"] == 3
    other = make_list_of_another_client(shop)
    for refs in ([99], [str(other.pk)]):
        error = assert_error(create(shop, text="Hi", contact_lists=refs), 404, "not_found", "contact_list_not_found")
        assert list(error["fields"]) == ["contact_lists"]


def make_list_of_another_client(shop: Shop) -> Any:
    from tests.factories.accounts import ClientFactory

    return contact_list_create(client=ClientFactory(), name="Theirs")


def test_errors_are_heralds_envelope_with_jinas_field_names(shop, make_shop):
    other = make_shop()
    theirs = ContactFactory(client=other.client, phone=UG)
    error = assert_error(create(shop, text="Hi", recipients=[str(theirs.pk)]), 404, "not_found")
    assert list(error["fields"]) == ["recipients"]
    error = assert_error(create(shop, text="Hi", recipients=["not-a-uuid"]), 400, "invalid_request_error")
    assert list(error["fields"]) == ["recipients.0"]
    mine = [str(ContactFactory(client=shop.client, phone="+256770001234").pk)]
    error = assert_error(
        create(shop, template_name="no", platform="WHATSAPP", recipients=mine), 400, "invalid_request_error"
    )
    assert "template_name" in error["fields"]
    error = assert_error(create(shop, text="Hi", platform="FAX", recipients=[]), 400, "invalid_request_error")
    assert list(error["fields"]) == ["platform"]
    assert_error(shop.api.post(URL, {"text": "Hi"}, format="json"), 400, "invalid_request_error")  # no name
    nothing_created(shop)


def test_whatsapp_needs_send_whatsapp_scope(make_shop):
    shop = make_shop(scopes=[Scope.READ, Scope.SEND_SMS])
    people = [str(c.pk) for c in contacts(shop)]
    error = assert_error(
        create(shop, platform="WHATSAPP", template_name="x", recipients=people), 403, "permission_error"
    )
    assert "send_whatsapp" in error["message"]
    nothing_created(shop)


def test_a_read_only_key_cannot_create_and_a_bad_key_is_401(make_shop):
    shop = make_shop(scopes=[Scope.READ])
    assert_error(create(shop, text="Hi", recipients=[]), 403, "permission_error", "missing_scope")
    shop.api.credentials(HTTP_AUTHORIZATION="Bearer hk_nope")
    assert_error(shop.api.get(URL), 401, "authentication_error")
    shop.api.credentials()
    assert_error(shop.api.get(URL), 401, "authentication_error")


def test_insufficient_credit_is_heralds_402(make_shop):
    shop = make_shop(balance="0.001")
    assert_error(create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)]), 402, "insufficient_credit")
    nothing_created(shop)


def test_creates_count_against_compat_send(shop, daytime, redis_url, settings):
    settings.SEND_RATE_LIMIT = "1/h"
    settings.COMPAT_SEND_RATE_LIMIT = "1/h"
    people = [str(c.pk) for c in contacts(shop)]
    assert create(shop, text="Hi", recipients=people).status_code == 201
    response = create(shop, text="Hi", recipients=people)
    assert_error(response, 429, "rate_limit_error")
    assert response["Retry-After"].isdigit()
    assert shop.api.get(URL).status_code == 200  # reads: API_RATE_LIMIT


# --- read ---------------------------------------------------------------------------------------


def test_list_and_retrieve_show_jinas_fields_from_heralds_counters(shop, daytime):
    people = contacts(shop, 3)
    contact_opt_out(contact=people[2])
    made = create(shop, text="Hi", recipients=[str(c.pk) for c in people]).json()
    # A message on its way is counted as still waiting, as a queued one is.
    Message.objects.filter(broadcast_id=made["id"], status="queued").update(status="sending")
    page = shop.api.get(URL).json()
    assert set(page) == {"next", "previous", "results"}
    [listed] = page["results"]
    detail = shop.api.get(f"{URL}{made['id']}/").json()
    assert listed == detail
    assert (detail["queued_count"], detail["blocked_count"], detail["total_messages"]) == (2, 1, 2)
    assert detail["skipped"]["opted_out"] == 1
    assert shop.api.get(f"{URL}{made['id']}").json() == detail  # without the trailing slash too


def test_list_filters_by_status_and_platform_in_jinas_case(shop, daytime):
    people = [str(c.pk) for c in contacts(shop)]
    draft = create(shop, text="Hi", recipients=people, status="DRAFT").json()
    queued = create(shop, text="Hi", recipients=people).json()
    ids = lambda **q: [r["id"] for r in shop.api.get(URL, q).json()["results"]]  # noqa: E731
    assert ids(status="DRAFT") == [draft["id"]]
    assert ids(status="queued") == [queued["id"]]
    assert ids(platform="SMS") == [queued["id"], draft["id"]]
    assert ids(platform="WHATSAPP") == []
    assert list(assert_error(shop.api.get(URL, {"status": "LOST"}), 400, "invalid_request_error")["fields"]) == [
        "status"
    ]
    assert_error(shop.api.get(URL, {"colour": "red"}), 400, "invalid_request_error", "unknown_parameter")


def test_another_clients_broadcast_is_404(shop, make_shop, daytime):
    other = make_shop()
    theirs = create(other, text="Hi", recipients=[str(c.pk) for c in contacts(other)], status="DRAFT").json()
    for method in ("get", "put", "patch", "delete"):
        response = getattr(shop.api, method)(f"{URL}{theirs['id']}/", {"name": "x"}, format="json")
        assert_error(response, 404, "not_found")
    assert shop.api.get(URL).json()["results"] == []
    assert Broadcast.objects.get(pk=theirs["id"]).name == "Summer Sale Campaign"


# --- update, send, cancel, delete ----------------------------------------------------------------


def test_put_edits_a_draft_by_the_native_patch_rules(shop, daytime):
    people = contacts(shop, 3)
    made = create(shop, text="Hi", recipients=[str(people[0].pk)], status="DRAFT").json()
    response = shop.api.put(
        f"{URL}{made['id']}/", {"name": "Renamed", "recipients": [str(c.pk) for c in people]}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["name"], body["total_messages"], body["status"]) == ("Renamed", 3, "DRAFT")
    assert shop.api.get(f"/api/v1/broadcasts/{made['id']}/").json()["name"] == "Renamed"


def test_put_of_the_whole_representation_changes_nothing(shop, daytime):
    made = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)], status="DRAFT").json()
    again = shop.api.put(f"{URL}{made['id']}/", made, format="json")
    assert again.status_code == 200, again.content
    assert {k: v for k, v in again.json().items() if k != "updated_at"} == {
        k: v for k, v in made.items() if k != "updated_at"
    }


def test_put_status_queued_sends_a_draft_and_cancelled_cancels(shop, daytime):
    made = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)], status="DRAFT").json()
    sent = shop.api.put(f"{URL}{made['id']}/", {"status": "QUEUED"}, format="json")
    assert sent.status_code == 200, sent.content
    assert sent.json()["status"] == "QUEUED"
    assert Message.objects.filter(broadcast_id=made["id"]).count() == 2
    cancelled = shop.api.patch(f"{URL}{made['id']}/", {"status": "CANCELLED"}, format="json")
    assert cancelled.json()["status"] == "CANCELLED"
    assert shop.refresh().reserved == 0


def test_a_sending_broadcast_cannot_be_edited_409(shop, daytime):
    made = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)]).json()
    assert_error(shop.api.put(f"{URL}{made['id']}/", {"name": "Late"}, format="json"), 409, "conflict")
    error = assert_error(
        shop.api.put(f"{URL}{made['id']}/", {"status": "DRAFT"}, format="json"), 400, "invalid_request_error"
    )
    assert list(error["fields"]) == ["status"]
    assert Broadcast.objects.get(pk=made["id"]).name == "Summer Sale Campaign"


def test_the_platform_cannot_change(shop, daytime):
    made = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)], status="DRAFT").json()
    error = assert_error(
        shop.api.put(f"{URL}{made['id']}/", {"platform": "TELEGRAM"}, format="json"), 400, "invalid_request_error"
    )
    assert list(error["fields"]) == ["platform"]
    assert shop.api.put(f"{URL}{made['id']}/", {"platform": "sms"}, format="json").status_code == 200


def test_put_scheduled_at_reschedules_a_scheduled_broadcast(shop, daytime):
    at = timezone.now() + timedelta(hours=2)
    made = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)], scheduled_at=at.isoformat()).json()
    later = (at + timedelta(hours=1)).replace(microsecond=0)
    response = shop.api.put(f"{URL}{made['id']}/", {"scheduled_time": later.isoformat()}, format="json")
    assert response.status_code == 200, response.content
    assert Broadcast.objects.get(pk=made["id"]).scheduled_at == later


def test_delete_removes_a_draft_or_scheduled_broadcast_only(shop, daytime):
    people = [str(c.pk) for c in contacts(shop)]
    draft = create(shop, text="Hi", recipients=people, status="DRAFT").json()
    assert shop.api.delete(f"{URL}{draft['id']}/").status_code == 204
    assert not Broadcast.objects.filter(pk=draft["id"]).exists()
    going = create(shop, text="Hi", recipients=people).json()
    assert_error(shop.api.delete(f"{URL}{going['id']}/"), 409, "conflict")


# --- the other pages and paths --------------------------------------------------------------------


def test_messages_dashboard_and_url_tracking_are_the_native_pages(shop, daytime):
    made = create(shop, text="Hi", recipients=[str(c.pk) for c in contacts(shop)]).json()
    messages = shop.api.get(f"{URL}messages/", {"broadcast": made["id"]}).json()
    assert messages == shop.api.get("/api/v1/messages/", {"broadcast": made["id"]}).json()
    assert len(messages["results"]) == 2
    one = messages["results"][0]["id"]
    assert shop.api.get(f"{URL}messages/{one}/").json()["id"] == one
    assert shop.api.get(f"{URL}dashboard/").json() == shop.api.get("/api/v1/broadcasts/dashboard/").json()
    assert shop.api.get(f"{URL}url-tracking/").json() == shop.api.get("/api/v1/url-tracking/").json()


def test_an_unknown_jina_path_is_heralds_404(shop):
    assert_error(shop.api.get(f"{URL}nope/"), 404, "not_found")
    assert_error(shop.api.get(f"{URL}12345/"), 404, "not_found")


def test_jina_paths_are_left_out_of_the_schema(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert not [p for p in schema["paths"] if "jina" in p]
