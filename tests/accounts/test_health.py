"""/healthz (SPEC §2): a plain worker consumes every queue Herald routes to, and /healthz names a queue
without a consumer and anything due that has waited for over a minute (issue 19, item 13)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from celery.signals import after_task_publish
from django.conf import settings
from django.utils import timezone

from accounts import tasks
from accounts.health import BEAT, BEAT_STARTED, CONSUMED, UNCONSUMED, UNKNOWN, health_assess, queue_heartbeat
from accounts.models import Client, Heartbeat
from accounts.selectors import health_report
from broadcasts.models import Broadcast, Message
from config.celery import app
from webhooks.models import WebhookDelivery
from webhooks.services import event_record, webhook_endpoint_create

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.get_current_timezone())
QUEUES = ("celery", "webhooks")


def ago(seconds: float, now: datetime = NOW) -> datetime:
    return now - timedelta(seconds=seconds)


def assess(heartbeats: dict[str, datetime], backlogs: dict[str, datetime | None] | None = None, **kw: Any) -> Any:
    options = {"now": NOW, "max_age": 60, "queues": QUEUES, "serving_since": ago(5), **kw}
    return health_assess(heartbeats=heartbeats, backlogs=backlogs or {}, **options)


# --- the queues a plain worker consumes -------------------------------------------------------------


def test_a_plain_worker_consumes_every_queue_herald_routes_to() -> None:
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    assert declared == routed == {"celery", "webhooks"}
    # What `celery -A config worker` without -Q consumes.
    assert set(app.amqp.queues.consume_from) == {"celery", "webhooks"}


@pytest.mark.parametrize(
    ("task", "queue"), [("webhooks.tasks.deliver", "webhooks"), ("broadcasts.tasks.tick", "celery")]
)
def test_each_task_reaches_one_queue_only(task: str, queue: str) -> None:
    """Each queue has its own exchange and routing key: a task published to one is never copied to the
    other (a queue declared without them would be bound to the default exchange's key)."""
    route = app.amqp.router.route({}, task)
    assert (route["queue"].name, route["queue"].exchange.name, route["queue"].routing_key) == (queue, queue, queue)
    bindings = {(q.exchange.name, q.routing_key) for q in settings.CELERY_TASK_QUEUES}
    assert len(bindings) == len(settings.CELERY_TASK_QUEUES)


def test_beat_sends_a_heartbeat_to_each_queue_that_expires_unrun() -> None:
    beats = {
        entry["options"]["queue"]: entry  # type: ignore[index]
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "accounts.tasks.heartbeat"
    }
    assert set(beats) == {"celery", "webhooks"}
    for queue, entry in beats.items():
        assert entry["args"] == (queue,)
        assert entry["options"]["expire_seconds"] == settings.HEALTH_MAX_AGE  # type: ignore[index]
        assert entry["schedule"] <= timedelta(seconds=settings.HEALTH_MAX_AGE / 4)  # type: ignore[operator]
    # The default queue's entry keeps the name databases of earlier versions hold.
    assert settings.CELERY_BEAT_SCHEDULE["heartbeat"]["args"] == ("celery",)


# --- the heartbeats ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_queue_heartbeat_records_that_queue() -> None:
    tasks.heartbeat.delay("webhooks")
    assert list(Heartbeat.objects.values_list("name", flat=True)) == [queue_heartbeat("webhooks")]


@pytest.mark.django_db
def test_beat_records_its_start_and_each_heartbeat_it_sends_but_not_other_tasks() -> None:
    tasks.on_beat_init(sender=None)
    try:
        assert set(Heartbeat.objects.values_list("name", flat=True)) == {BEAT_STARTED}
        after_task_publish.send(sender="broadcasts.tasks.tick", headers={}, body=(), exchange="", routing_key="")
        assert not Heartbeat.objects.filter(name=BEAT).exists()
        after_task_publish.send(sender=tasks.heartbeat.name, headers={}, body=(), exchange="", routing_key="")
        assert Heartbeat.objects.filter(name=BEAT).exists()
    finally:
        after_task_publish.disconnect(tasks.on_beat_publish)


# --- the rules --------------------------------------------------------------------------------------


def test_a_stack_just_started_is_healthy_with_its_queues_unknown() -> None:
    report = assess({})
    assert report.healthy
    assert {name: q.consumer for name, q in report.queues.items()} == {"celery": UNKNOWN, "webhooks": UNKNOWN}


def test_every_queue_consumed_is_healthy() -> None:
    report = assess({BEAT: ago(3), BEAT_STARTED: ago(600), queue_heartbeat("celery"): ago(4),
                     queue_heartbeat("webhooks"): ago(59)})  # fmt: skip
    assert report.problems == []
    assert {name: q.consumer for name, q in report.queues.items()} == {"celery": CONSUMED, "webhooks": CONSUMED}


def test_a_queue_whose_heartbeat_never_ran_a_minute_after_beat_started_has_no_consumer() -> None:
    report = assess({BEAT: ago(3), BEAT_STARTED: ago(61), queue_heartbeat("celery"): ago(4)})
    assert report.problems == ["queue webhooks: no consumer (no heartbeat yet)"]
    assert report.queues["webhooks"].consumer == UNCONSUMED
    assert report.queues["celery"].consumer == CONSUMED


def test_a_worker_has_a_minute_from_beats_start_to_take_its_first_heartbeat() -> None:
    # An old heartbeat from before a restart counts from the restart.
    report = assess({BEAT: ago(3), BEAT_STARTED: ago(50), queue_heartbeat("webhooks"): ago(86_400)})
    assert report.healthy
    assert report.queues["webhooks"].consumer == CONSUMED


def test_a_queue_whose_consumer_stopped_is_named_with_its_last_heartbeat() -> None:
    report = assess({BEAT: ago(3), BEAT_STARTED: ago(600), queue_heartbeat("celery"): ago(5),
                     queue_heartbeat("webhooks"): ago(75)})  # fmt: skip
    assert report.problems == ["queue webhooks: no consumer (last heartbeat 75 s ago)"]


def test_while_beat_is_down_it_is_the_problem_and_the_queues_are_unknown() -> None:
    report = assess({BEAT: ago(90), BEAT_STARTED: ago(600), queue_heartbeat("celery"): ago(90)})
    assert report.problems == ["beat: last heartbeat 90 s ago"]
    assert {q.consumer for q in report.queues.values()} == {UNKNOWN}


def test_beat_never_seen_is_a_problem_once_the_server_has_run_a_minute() -> None:
    assert assess({}, serving_since=ago(59)).healthy
    assert assess({}, serving_since=ago(61)).problems == ["beat: no heartbeat since this server started 61 s ago"]


@pytest.mark.parametrize(("waited", "problems"), [(59, []), (61, ["oldest due message: waiting 61 s"])])
def test_a_backlog_is_a_problem_past_a_minute(waited: float, problems: list[str]) -> None:
    report = assess({}, {"oldest_due_message": ago(waited), "oldest_undelivered_webhook": None})
    assert report.problems == problems
    assert report.backlogs == {"oldest_due_message": waited, "oldest_undelivered_webhook": None}


# --- the backlogs, read from the database -----------------------------------------------------------


def sending_broadcast(client: Client, **fields: Any) -> Broadcast:
    return Broadcast.objects.create(client=client, name="b", status=Broadcast.Status.SENDING, **fields)


def message(broadcast: Broadcast, n: int, created: datetime, **fields: Any) -> Message:
    made = Message.objects.create(
        broadcast=broadcast, client=broadcast.client, urn=f"tel:+25677200{n:04d}", channel="sms", **fields
    )
    Message.objects.filter(pk=made.pk).update(created_at=created)
    return made


@pytest.fixture
def stale_broadcast(tenant: Client) -> Broadcast:
    """A sending broadcast that last changed status 10 minutes ago and has no dispatcher."""
    broadcast = sending_broadcast(tenant)
    Broadcast.objects.filter(pk=broadcast.pk).update(updated_at=ago(600, timezone.now()))
    return broadcast


@pytest.mark.django_db
def test_the_oldest_due_message_counts_from_when_it_came_due(stale_broadcast: Broadcast) -> None:
    now = timezone.now()
    message(stale_broadcast, 1, ago(300, now), status=Message.Status.SENT)  # gone
    message(stale_broadcast, 2, ago(300, now), is_test=True)  # a test send: not the broadcast's backlog
    message(stale_broadcast, 3, ago(300, now), not_before=now + timedelta(minutes=5))  # not due yet
    message(stale_broadcast, 4, ago(300, now), not_before=ago(90, now))  # due 90 s ago: the oldest
    message(stale_broadcast, 5, ago(100, now))
    waited = health_report(now=now).backlogs["oldest_due_message"]
    assert waited == 90.0


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "waited"),
    [
        # A live dispatcher holds it (pacing at the connector's tps): nobody is late.
        ({"dispatch_lease_until": timedelta(seconds=30)}, None),
        # Its dispatcher's lease ran out 20 s ago: waiting since.
        ({"dispatch_lease_until": timedelta(seconds=-20)}, 20.0),
        ({"status": Broadcast.Status.PAUSED}, None),
        ({"status": Broadcast.Status.QUEUED}, 300.0),
    ],
)
def test_only_a_dispatchable_broadcast_without_a_dispatcher_has_waiting_messages(
    stale_broadcast: Broadcast, fields: dict[str, Any], waited: float | None
) -> None:
    now = timezone.now()
    message(stale_broadcast, 1, ago(300, now))
    values = {k: now + v if isinstance(v, timedelta) else v for k, v in fields.items()}
    Broadcast.objects.filter(pk=stale_broadcast.pk).update(**values, updated_at=ago(600, now))
    assert health_report(now=now).backlogs["oldest_due_message"] == waited


@pytest.mark.django_db
def test_a_broadcast_resumed_or_retried_counts_from_its_last_status_change(tenant: Client) -> None:
    now = timezone.now()
    broadcast = sending_broadcast(tenant)
    message(broadcast, 1, ago(86_400, now))
    Broadcast.objects.filter(pk=broadcast.pk).update(updated_at=ago(4, now))
    assert health_report(now=now).backlogs["oldest_due_message"] == 4.0


@pytest.mark.django_db
def test_the_oldest_undelivered_webhook_counts_from_when_its_attempt_came_due(tenant: Client, settings: Any) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=tenant, url="http://127.0.0.1:9/hook", events=["*"])
    now = timezone.now()
    assert health_report(now=now).backlogs["oldest_undelivered_webhook"] is None
    for n in range(3):
        event_record(client_id=tenant.pk, type="message.delivered", data={"message_id": n})
    first, second, third = WebhookDelivery.objects.order_by("id")
    WebhookDelivery.objects.filter(pk=first.pk).update(status=WebhookDelivery.Status.SUCCEEDED, scheduled_at=ago(900))
    WebhookDelivery.objects.filter(pk=second.pk).update(scheduled_at=ago(75, now))
    WebhookDelivery.objects.filter(pk=third.pk).update(scheduled_at=now + timedelta(minutes=5))  # a retry, later
    assert health_report(now=now).backlogs["oldest_undelivered_webhook"] == 75.0
    WebhookDelivery.objects.filter(pk=second.pk).update(status=WebhookDelivery.Status.SUCCEEDED)
    assert health_report(now=now).backlogs["oldest_undelivered_webhook"] is None


@pytest.mark.django_db
def test_the_report_costs_three_queries(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(3):
        health_report()


# --- the endpoint -----------------------------------------------------------------------------------


def beats(now: datetime, **queues: float) -> None:
    Heartbeat.objects.create(name=BEAT, beat_at=ago(2, now))
    Heartbeat.objects.create(name=BEAT_STARTED, beat_at=ago(600, now))
    for queue, seconds in queues.items():
        Heartbeat.objects.create(name=queue_heartbeat(queue), beat_at=ago(seconds, now))


@pytest.mark.django_db
def test_healthz_answers_200_when_every_queue_has_a_consumer(client: Any) -> None:
    beats(timezone.now(), celery=3, webhooks=3)
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["problems"]) == ("ok", "ok", [])
    assert {name: q["consumer"] for name, q in body["queues"].items()} == {"celery": "ok", "webhooks": "ok"}
    assert (body["oldest_due_message_s"], body["oldest_undelivered_webhook_s"]) == (None, None)
    assert body["beat_last_seen"] is not None


@pytest.mark.django_db
def test_healthz_answers_503_naming_a_queue_without_a_consumer(client: Any) -> None:
    beats(timezone.now(), celery=3)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["problems"]) == ("degraded", ["queue webhooks: no consumer (no heartbeat yet)"])
    assert body["queues"]["webhooks"] == {"consumer": "missing", "last_heartbeat": None}


@pytest.mark.django_db
def test_healthz_answers_503_naming_a_message_waiting_for_over_a_minute(
    client: Any, stale_broadcast: Broadcast
) -> None:
    now = timezone.now()
    beats(now, celery=3, webhooks=3)
    message(stale_broadcast, 1, ago(120, now))
    response = client.get("/healthz")
    assert response.status_code == 503
    [problem] = response.json()["problems"]
    assert problem.startswith("oldest due message: waiting 12")


@pytest.mark.django_db
def test_the_smpp_queue_needs_a_consumer_only_while_an_active_smpp_connector_exists(client: Any, settings: Any) -> None:
    """docker-compose declares `smpp` for every deployment (SMPP_QUEUE on); its worker runs with the
    `smpp` profile. Without an smpp connector nothing is routed there and /healthz does not ask for
    a consumer; with one and no smpp worker it names the queue."""
    from kombu import Exchange, Queue

    from broadcasts.services import connector_create
    from broadcasts.smpp import routing

    settings.SMPP_QUEUE = True
    settings.CELERY_TASK_QUEUES = tuple(Queue(n, Exchange(n), routing_key=n) for n in ("celery", "webhooks", "smpp"))
    beats(timezone.now(), celery=3, webhooks=3)
    routing.forget()
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert set(response.json()["queues"]) == {"celery", "webhooks"}
    carrier = connector_create(
        name="carrier", channel="sms", backend="smpp", tps=10, config={"host": "127.0.0.1", "port": 1, "system_id": "h"}
    )
    routing.forget()
    body = client.get("/healthz").json()
    assert body["problems"] == ["queue smpp: no consumer (no heartbeat yet)"]
    Heartbeat.objects.create(name=queue_heartbeat("smpp"), beat_at=ago(3, timezone.now()))
    assert client.get("/healthz").status_code == 200
    carrier.active = False
    carrier.save(update_fields=["active"])
    Heartbeat.objects.filter(name=queue_heartbeat("smpp")).delete()
    routing.forget()
    assert client.get("/healthz").status_code == 200
