"""Actions on broadcasts: send a draft, edit, delete, cancel, pause/resume, retry-failed, test sends."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from broadcasts.dispatch import dispatch_run
from broadcasts.models import Broadcast, Message
from tests.broadcasts.conftest import KE, UG, US
from tests.helpers import assert_error
from wallets.models import Route
from wallets.selectors import reservation_state

pytestmark = pytest.mark.django_db

PHONES = [f"+2567720{i:05d}" for i in range(6)]


def post(shop, broadcast, action, body=None):
    return shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/{action}/", body or {}, format="json")


def run_dispatch(broadcast):
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    broadcast.refresh_from_db()
    return broadcast


def test_a_draft_is_sent_with_its_audience_as_it_is_now(shop, daytime):
    draft = shop.broadcast(shop.create(recipients=[UG, KE], status="draft"))
    response = post(shop, draft, "send")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["total_recipients"]) == ("queued", 2)
    assert Message.objects.filter(broadcast=draft).count() == 2
    assert shop.refresh().reserved == Decimal(body["estimated_cost"])
    assert_error(post(shop, draft, "send"), 409, "conflict")


def test_patch_a_draft_and_a_scheduled_broadcast(shop, daytime):
    draft = shop.broadcast(shop.create(recipients=[UG], status="draft"))
    response = shop.api.patch(
        f"/api/v1/broadcasts/{draft.pk}/", {"name": "Renamed", "recipients": [UG, KE]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["name"], response.json()["total_recipients"]) == ("Renamed", 2)

    at = (timezone.now() + timedelta(hours=3)).isoformat()
    scheduled = shop.broadcast(shop.create(recipients=[UG], schedule_mode="scheduled", scheduled_at=at))
    before = shop.refresh().reserved
    response = shop.api.patch(f"/api/v1/broadcasts/{scheduled.pk}/", {"recipients": [UG, KE, US]}, format="json")
    body = response.json()
    assert response.status_code == 200, body
    assert (body["status"], body["total_recipients"]) == ("scheduled", 3)
    assert Message.objects.filter(broadcast=scheduled).count() == 3
    assert shop.refresh().reserved - before == Decimal(body["estimated_cost"]) - scheduled.estimated_cost
    assert reservation_state(broadcast_id=scheduled.pk).outstanding == Decimal(body["estimated_cost"])


@pytest.mark.parametrize(
    ("patch", "field", "code"),
    [
        ({"scheduled_at": "2027-02-30T10:00:00Z"}, "scheduled_at", "invalid_datetime"),
        ({"scheduled_at": "2027-01-01T25:00:00Z"}, "scheduled_at", "invalid_datetime"),
        ({"name": "Re\x00named"}, "name", "nul_character"),
        ({"text": {"eng": "Hi\x00"}, "base_language": "eng"}, "text.eng", "nul_character"),
    ],
)
def test_patch_with_an_impossible_date_or_a_nul_is_400_and_changes_nothing(shop, daytime, patch, field, code):
    at = (timezone.now() + timedelta(hours=3)).isoformat()
    scheduled = shop.broadcast(shop.create(recipients=[UG], schedule_mode="scheduled", scheduled_at=at))
    response = shop.api.patch(f"/api/v1/broadcasts/{scheduled.pk}/", patch, format="json")
    error = assert_error(response, 400, "invalid_request_error", code)
    assert list(error["fields"]) == [field]
    after = Broadcast.objects.get(pk=scheduled.pk)
    assert (after.name, after.text, after.scheduled_at) == (scheduled.name, scheduled.text, scheduled.scheduled_at)


def test_patch_with_bad_input_changes_nothing(shop, daytime):
    at = (timezone.now() + timedelta(hours=3)).isoformat()
    scheduled = shop.broadcast(shop.create(recipients=[UG], schedule_mode="scheduled", scheduled_at=at))
    response = shop.api.patch(f"/api/v1/broadcasts/{scheduled.pk}/", {"drip_rate": 601}, format="json")
    assert_error(response, 400, "invalid_request_error")
    assert_error(
        shop.api.patch(f"/api/v1/broadcasts/{scheduled.pk}/", {"status": "sent"}, format="json"),
        400,
        "invalid_request_error",
        "not_editable",
    )
    scheduled.refresh_from_db()
    assert (scheduled.status, scheduled.total_recipients) == ("scheduled", 1)
    assert Message.objects.filter(broadcast=scheduled).count() == 1


def test_patch_and_delete_only_while_draft_or_scheduled(shop, daytime):
    queued = shop.broadcast(shop.create(recipients=[UG]))
    assert_error(shop.api.patch(f"/api/v1/broadcasts/{queued.pk}/", {"name": "x"}, format="json"), 409, "conflict")
    assert_error(shop.api.delete(f"/api/v1/broadcasts/{queued.pk}/"), 409, "conflict")
    draft = shop.broadcast(shop.create(recipients=[UG], status="draft"))
    assert shop.api.delete(f"/api/v1/broadcasts/{draft.pk}/").status_code == 204
    at = (timezone.now() + timedelta(hours=3)).isoformat()
    scheduled = shop.broadcast(shop.create(recipients=[UG], schedule_mode="scheduled", scheduled_at=at))
    assert shop.api.delete(f"/api/v1/broadcasts/{scheduled.pk}/").status_code == 204
    assert not Broadcast.objects.filter(pk__in=[draft.pk, scheduled.pk]).exists()
    assert shop.refresh().reserved == queued.estimated_cost


def test_cancel_releases_the_credit_of_unsent_messages(shop, daytime, settings):
    settings.BROADCAST_BATCH_SIZE = 2
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    from broadcasts.dispatch import dispatch_batch

    dispatch_batch(broadcast)  # two of six leave
    response = post(shop, broadcast, "cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    statuses = sorted(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True))
    assert statuses == ["cancelled"] * 4 + ["delivered"] * 2
    spent = Message.objects.filter(broadcast=broadcast, status="delivered").aggregate(t=Sum("cost"))["t"]
    assert reservation_state(broadcast_id=broadcast.pk).charged == spent
    assert shop.refresh().reserved == 0
    assert_error(post(shop, broadcast, "cancel"), 409, "conflict")


def test_pause_then_resume_sends_nobody_twice(shop, daytime, settings, recorder):
    settings.BROADCAST_BATCH_SIZE = 2
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    from broadcasts.dispatch import dispatch_batch

    dispatch_batch(broadcast)
    assert post(shop, broadcast, "pause").json()["status"] == "paused"
    assert dispatch_run(broadcast_id=str(broadcast.pk)) is None  # a paused broadcast sends nothing
    assert len(recorder.sent) == 2
    assert_error(post(shop, broadcast, "pause"), 409, "conflict")
    assert post(shop, broadcast, "resume").json()["status"] in ("queued", "sending", "sent")
    broadcast = run_dispatch(broadcast)
    assert sorted(recorder.sent) == sorted(Message.objects.filter(broadcast=broadcast).values_list("id", flat=True))
    assert len(recorder.sent) == len(set(recorder.sent)) == 6
    assert broadcast.status == "sent"
    assert shop.refresh().reserved == 0
    assert_error(post(shop, broadcast, "resume"), 409, "conflict")


def test_retry_failed_resends_only_failed_messages(shop, daytime, recorder):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:4]))
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    recorder.outcomes = {ids[1]: "permanent", ids[3]: "permanent"}
    broadcast = run_dispatch(broadcast)
    assert broadcast.status == "partially_sent"
    assert_error(post(shop, broadcast, "pause"), 409, "conflict")
    recorder.outcomes = {}
    response = post(shop, broadcast, "retry-failed")
    assert response.status_code == 200, response.content
    broadcast = run_dispatch(broadcast)
    assert recorder.sent == [ids[0], ids[1], ids[2], ids[3], ids[1], ids[3]]
    assert broadcast.status == "sent"
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"sent"}
    spent = Message.objects.filter(broadcast=broadcast).aggregate(t=Sum("cost"))["t"]
    assert reservation_state(broadcast_id=broadcast.pk).charged == spent
    assert shop.refresh().reserved == 0
    assert_error(post(shop, broadcast, "retry-failed"), 409, "conflict", "nothing_to_retry")


def test_retry_failed_never_touches_delivered_messages(shop, daytime, django_capture_on_commit_callbacks):
    shop.connector.config = {"failure_rate": 0.5, "delay": 0, "seed": 7, "read_rate": 0}
    shop.connector.save()
    with django_capture_on_commit_callbacks(execute=True):
        broadcast = shop.broadcast(shop.create(recipients=PHONES))
    delivered = set(Message.objects.filter(broadcast=broadcast, status="delivered").values_list("id", "sent_at"))
    failed = Message.objects.filter(broadcast=broadcast, status="failed").count()
    assert delivered  # the seed gives both outcomes
    assert failed
    with django_capture_on_commit_callbacks(execute=True):
        assert post(shop, broadcast, "retry-failed").status_code == 200
    assert delivered <= set(
        Message.objects.filter(broadcast=broadcast, status="delivered").values_list("id", "sent_at")
    )


def test_retry_needs_credit(make_shop, daytime, recorder):
    shop = make_shop(balance="0.05")
    Route.objects.update(connector="recorder")  # the routes were made after the recorder fixture ran
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:2]))
    recorder.mode = "permanent"
    broadcast = run_dispatch(broadcast)
    assert broadcast.status == "failed"
    shop.client.wallet.refresh_from_db()
    from wallets.services import wallet_adjust

    wallet_adjust(wallet=shop.client.wallet, amount=-shop.client.wallet.available, note="spent elsewhere")
    assert_error(post(shop, broadcast, "retry-failed"), 402, "insufficient_credit")
    broadcast.refresh_from_db()
    assert broadcast.status == "failed"
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"failed"}


def test_test_sends_go_outside_the_stats(shop, daytime, django_capture_on_commit_callbacks):
    broadcast = shop.broadcast(shop.create(recipients=[UG, KE], status="draft", text="Hi {{first_name|you}}"))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(shop, broadcast, "test", {"recipients": [US, "0772999999"]})
    assert response.status_code == 200, response.content
    tests = Message.objects.filter(broadcast=broadcast, is_test=True)
    assert sorted(tests.values_list("urn", "status", "text")) == [
        ("tel:+12125550101", "delivered", "Hi you"),
        ("tel:+256772999999", "delivered", "Hi you"),
    ]
    detail = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
    assert detail["stats"]["sent"] == 0
    assert detail["status"] == "draft"
    spent = tests.aggregate(t=Sum("cost"))["t"]
    assert reservation_state(broadcast_id=broadcast.pk).charged == spent


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recipients": []}, "recipients"),
        ({"recipients": ["12"]}, "recipients.0"),
        ({"recipients": [UG] * 11}, "recipients"),
        ({}, "recipients"),
    ],
)
def test_test_send_bad_input(shop, body, field):
    broadcast = shop.broadcast(shop.create(recipients=[UG], status="draft"))
    error = assert_error(post(shop, broadcast, "test", body), 400, "invalid_request_error")
    assert field in error["fields"]
    assert not Message.objects.filter(is_test=True).exists()


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("draft", "cancel"),
        ("draft", "pause"),
        ("draft", "resume"),
        ("draft", "retry-failed"),
        ("scheduled", "send"),
        ("scheduled", "pause"),
        ("scheduled", "resume"),
        ("scheduled", "retry-failed"),
        ("queued", "send"),
        ("queued", "resume"),
        ("queued", "retry-failed"),
        ("sent", "send"),
        ("sent", "cancel"),
        ("sent", "pause"),
        ("sent", "resume"),
        ("cancelled", "send"),
        ("cancelled", "cancel"),
        ("cancelled", "pause"),
        ("cancelled", "resume"),
        ("cancelled", "retry-failed"),
        ("cancelled", "test"),
    ],
)
def test_an_action_the_status_does_not_allow_is_409(shop, daytime, status, action):
    broadcast = shop.broadcast(shop.create(recipients=[UG], status="draft"))
    Broadcast.objects.filter(pk=broadcast.pk).update(status=status)
    response = post(shop, broadcast, action, {"recipients": [UG]} if action == "test" else None)
    assert_error(response, 409, "conflict")
    broadcast.refresh_from_db()
    assert broadcast.status == status


def test_another_clients_broadcast_is_404_for_every_action(shop, make_shop, daytime):
    other = make_shop()
    broadcast = other.broadcast(other.create(recipients=[UG], status="draft"))
    assert_error(shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/"), 404, "not_found")
    for action in ("send", "cancel", "pause", "resume", "retry-failed", "test"):
        assert_error(post(shop, broadcast, action, {"recipients": [UG]}), 404, "not_found")
    assert_error(shop.api.patch(f"/api/v1/broadcasts/{broadcast.pk}/", {"name": "x"}, format="json"), 404, "not_found")
    assert_error(shop.api.delete(f"/api/v1/broadcasts/{broadcast.pk}/"), 404, "not_found")
    broadcast.refresh_from_db()
    assert broadcast.status == "draft"


def test_actions_need_the_channel_scope(make_shop, daytime):
    owner = make_shop()
    broadcast = owner.broadcast(owner.create(recipients=[UG], status="draft"))
    from tests.conftest import HeraldAPIClient  # noqa: F401

    reader = owner.api.__class__()
    from tests.factories.accounts import make_api_key

    _, raw = make_api_key(client=owner.client, scopes=["read", "send_whatsapp"])
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_error(reader.post(f"/api/v1/broadcasts/{broadcast.pk}/send/"), 403, "permission_error", "missing_scope")
    assert reader.get(f"/api/v1/broadcasts/{broadcast.pk}/").status_code == 200


def test_cancel_settles_the_reservation_in_the_same_transaction(shop, daytime, monkeypatch):
    from broadcasts import dispatch

    broadcast = shop.broadcast(shop.create(recipients=PHONES[:2]))

    def crash(**kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(dispatch.billing, "release_rest", crash)
    from broadcasts.services import broadcast_cancel

    with pytest.raises(RuntimeError):
        broadcast_cancel(broadcast=broadcast)
    broadcast.refresh_from_db()
    assert broadcast.status == "queued"  # nothing half-done: still cancellable, credit still held
    assert Message.objects.filter(broadcast=broadcast, status="queued").count() == 2


def test_send_rate_limit_counts_sending_a_draft_too(shop, settings, redis_url, daytime):
    settings.SEND_RATE_LIMIT = "2/15m"
    drafts = [shop.broadcast(shop.create(recipients=[UG], status="draft")) for _ in range(2)]  # 2 creates
    assert_error(post(shop, drafts[0], "send"), 429, "rate_limit_error")
    assert drafts[0].status == "draft"
    assert post(shop, drafts[0], "pause").status_code == 409  # other actions count against API_RATE_LIMIT
