"""/metrics (SPEC §2, accounts/metrics.py): who may read it, what it counts after a broadcast (and never
a phone number, a text or a key), the gauges read at scrape time, and counters summed over processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from accounts import metrics
from accounts.models import Heartbeat
from accounts.selectors import broker_queue_lengths
from broadcasts.connectors import http as http_engine
from broadcasts.models import Broadcast, Message
from config.celery import app
from tests.broadcasts.conftest import KE, UG, Shop, daytime, make_shop  # noqa: F401 - fixtures
from tests.fakes.generic_http import FakeHttpProvider, running_fake
from tests.webhooks.conftest import allow_private, make_endpoint, make_retries_due, receiver, send_due  # noqa: F401
from webhooks.models import WebhookDelivery
from webhooks.services import event_record, webhook_endpoint_create

BASE_DIR = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-0123456789abcdef"
HOOK_TOKEN = "hook-token-0123456789abcdef"


def samples(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def scrape(**extra: Any) -> Any:
    return Client().get("/metrics", **extra)


# --- who may read it ------------------------------------------------------------------------------


@pytest.fixture
def outside(settings: Any) -> Any:
    """A caller outside METRICS_ALLOW (the test client calls from 127.0.0.1)."""
    settings.METRICS_ALLOW = ["10.9.0.0/16"]
    settings.METRICS_TOKEN = TOKEN
    return settings


@pytest.mark.django_db
def test_loopback_reads_metrics_by_default() -> None:
    assert settings.METRICS_ALLOW == ["127.0.0.0/8", "::1/128"]
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"herald_broadcasts{" in response.content


@pytest.mark.django_db
def test_an_address_in_metrics_allow_reads_metrics(outside: Any) -> None:
    assert scrape(REMOTE_ADDR="10.9.3.4").status_code == 200


@pytest.mark.django_db
def test_the_bearer_token_opens_metrics_from_anywhere(outside: Any) -> None:
    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_without_a_token_the_answer_is_401_asking_for_one(outside: Any) -> None:
    response = scrape(REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}x", "Bearer wrong", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"])
def test_a_wrong_token_is_refused_with_403(outside: Any, header: str) -> None:
    response = scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=header)
    assert response.status_code == 403
    assert set(response.json()["error"]) == {"type", "code", "message", "fields"}
    assert response.json()["error"]["type"] == "permission_error"
    assert TOKEN not in response.content.decode()


def test_with_no_token_configured_an_outside_address_gets_403(settings: Any) -> None:
    settings.METRICS_ALLOW = ["10.9.0.0/16"]
    settings.METRICS_TOKEN = ""
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer "}, {"HTTP_AUTHORIZATION": "Bearer anything"}):
        response = scrape(REMOTE_ADDR="203.0.113.9", **headers)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "metrics_not_allowed")


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(outside: Any) -> None:
    # A client cannot claim an allowed address itself...
    assert scrape(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.9.0.1").status_code == 401
    # ...but a trusted proxy speaks for the client it forwards, either way.
    outside.TRUSTED_PROXIES = ["192.0.2.0/24"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("accounts.views.exposition", lambda readers, now: b"")
        assert scrape(REMOTE_ADDR="192.0.2.5", HTTP_X_FORWARDED_FOR="10.9.0.1").status_code == 200
    assert scrape(REMOTE_ADDR="192.0.2.5", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 401


def test_only_get_is_allowed() -> None:
    response = Client(enforce_csrf_checks=False).put("/metrics")
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_a_malformed_metrics_allow_stops_the_settings_with_its_reason() -> None:
    env = {**os.environ, "METRICS_ALLOW": "127.0.0.1,not-a-network", "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "'not-a-network' is not a valid IP address or CIDR" in done.stderr


# --- a broadcast counted, and nothing personal in the output -----------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeHttpProvider]:
    yield from running_fake()
    http_engine.close_clients()


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_a_broadcast_is_counted_and_no_number_text_or_key_shows(
    make_shop: Any,  # noqa: F811 - the fixture imported above
    fake: FakeHttpProvider,
    daytime: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    shop: Shop = make_shop(backend="http", config={"url": fake.url, "token": HOOK_TOKEN})
    name = shop.connector.name
    before = {
        "handed": value("herald_messages_handed_total", connector=name),
        "accepted": value("herald_messages_accepted_total", connector=name),
        "failed": value("herald_messages_failed_total", connector=name, error_code="http_400"),
        "requests": value("herald_provider_request_seconds_count", connector=name),
        "delivered": value("herald_delivery_reports_total", connector=name, status="delivered"),
        "lag": value("herald_delivery_report_lag_seconds_count", connector=name),
    }
    fake.answer_next(400, {"error": "rejected"})
    text = "Secret offer 4821 for you"
    with django_capture_on_commit_callbacks(execute=True):
        response = shop.create(text=text, sender="Herald", recipients=[UG, KE])
    assert response.status_code == 201, response.content
    sent = Message.objects.get(status="sent")
    sent_at = timezone.now() - timedelta(seconds=30)
    Message.objects.filter(pk=sent.pk).update(sent_at=sent_at)
    answer = Client().post(
        f"/hooks/{shop.connector.pk}/status/",
        json.dumps({"id": sent.provider_message_id, "status": "delivered"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {HOOK_TOKEN}",
    )
    assert answer.json()["applied"] == 1

    body = scrape().content
    found = samples(body)

    def delta(key: str, metric: str, **labels: str) -> float:
        return found[(metric, tuple(sorted(labels.items())))] - before[key]

    assert delta("handed", "herald_messages_handed_total", connector=name) == 2
    assert delta("accepted", "herald_messages_accepted_total", connector=name) == 1
    assert delta("failed", "herald_messages_failed_total", connector=name, error_code="http_400") == 1
    assert delta("requests", "herald_provider_request_seconds_count", connector=name) == 2
    assert delta("delivered", "herald_delivery_reports_total", connector=name, status="delivered") == 1
    assert delta("lag", "herald_delivery_report_lag_seconds_count", connector=name) == 1
    # The lag is the report's time less sent_at: about 30 s, in the 30-60 s bucket.
    lag_le_30 = found[("herald_delivery_report_lag_seconds_bucket", (("connector", name), ("le", "30.0")))]
    lag_le_60 = found[("herald_delivery_report_lag_seconds_bucket", (("connector", name), ("le", "60.0")))]
    assert lag_le_60 - lag_le_30 >= 1
    shown = body.decode()
    for secret in (UG, KE, UG.lstrip("+"), KE.lstrip("+"), text, "4821", HOOK_TOKEN, shop.client.name):
        assert secret not in shown


@pytest.mark.django_db
def test_webhook_attempts_are_counted_by_outcome(
    api: Any,
    make_endpoint: Any,  # noqa: F811 - the fixtures imported above
    receiver: Any,  # noqa: F811
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = {o: value("herald_webhook_attempts_total", outcome=o) for o in ("succeeded", "failed")}
    make_endpoint(api, receiver.url())
    receiver.answer_next(500, body="boom")
    with django_capture_on_commit_callbacks(execute=True):
        event_record(client_id=api.tenant.pk, type="message.delivered", data={"message_id": 1})
    make_retries_due()
    assert send_due() == 1
    after = {o: value("herald_webhook_attempts_total", outcome=o) for o in ("succeeded", "failed")}
    assert (after["succeeded"] - before["succeeded"], after["failed"] - before["failed"]) == (1, 1)


def test_switched_off_the_instrumentation_counts_nothing() -> None:
    before = value("herald_messages_handed_total", connector="switch")
    metrics.set_enabled(False)
    try:
        metrics.messages_handed("switch", 5)
        metrics.sends_recorded(["switch"], [("switch", "x")])
        metrics.provider_requests("switch", [0.1])
    finally:
        metrics.set_enabled(True)
    assert value("herald_messages_handed_total", connector="switch") == before
    assert value("herald_provider_request_seconds_count", connector="switch") == 0
    metrics.messages_handed("switch", 5)
    assert value("herald_messages_handed_total", connector="switch") == before + 5


# --- the gauges read at scrape time -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_scrape_reads_broadcasts_backlogs_heartbeats_and_queues(
    make_shop: Any,  # noqa: F811
    daytime: Any,  # noqa: F811
    settings: Any,
) -> None:
    shop: Shop = make_shop()
    now = timezone.now()
    statuses = {"queued": 2, "paused": 1, "cancelled": 3}
    for status, count in statuses.items():
        for _ in range(count):
            Broadcast.objects.create(client=shop.client, name="b", text="t", status=status)
    due = Broadcast.objects.filter(status="queued").first()
    assert due is not None
    Broadcast.objects.filter(pk=due.pk).update(updated_at=now - timedelta(seconds=300))
    for i, not_before in enumerate([None, None, now + timedelta(hours=1)]):
        made = Message.objects.create(
            broadcast=due,
            client=shop.client,
            urn=f"tel:+25677200{i:04d}",
            channel="sms",
            status="pending" if not_before else "queued",
            not_before=not_before,
            wait_reason="scheduled" if not_before else "",
        )
        Message.objects.filter(pk=made.pk).update(created_at=now - timedelta(seconds=200))
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    webhook_endpoint_create(client=shop.client, url="http://127.0.0.1:9/hook", events=["*"])
    event_record(client_id=shop.client.pk, type="message.delivered", data={"message_id": 1})
    WebhookDelivery.objects.update(scheduled_at=now - timedelta(seconds=90))
    Heartbeat.objects.create(name="beat", beat_at=now - timedelta(seconds=4))
    Heartbeat.objects.create(name="queue:webhooks", beat_at=now - timedelta(seconds=80))

    found = samples(scrape().content)

    def gauge(name: str, **labels: str) -> float:
        return found[(name, tuple(sorted(labels.items())))]

    # The active statuses, 0 included; the finished ones only grow and are not read at every scrape.
    for status in ("draft", "scheduled", "queued", "sending", "paused"):
        assert gauge("herald_broadcasts", status=status) == statuses.get(status, 0)
    assert ("herald_broadcasts", (("status", "cancelled"),)) not in found
    assert gauge("herald_messages_due") == 2  # the scheduled one waits for its time
    assert 100 <= gauge("herald_messages_due_oldest_age_seconds") < 310
    assert gauge("herald_webhook_deliveries_undelivered") == WebhookDelivery.objects.count() >= 1
    assert 90 <= gauge("herald_webhook_undelivered_oldest_age_seconds") < 120
    assert 4 <= gauge("herald_heartbeat_age_seconds", source="beat") < 30
    assert 80 <= gauge("herald_heartbeat_age_seconds", source="queue:webhooks") < 110
    assert gauge("herald_queue_length", queue="celery") == 0
    assert gauge("herald_queue_length", queue="webhooks") == 0
    assert {gauge("herald_facts_errors", source=s) for s in settings.METRICS_FACTS} == {0}


@pytest.mark.django_db
def test_a_broker_that_does_not_answer_costs_only_its_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    found = samples(scrape().content)
    assert found[("herald_facts_errors", (("source", "broker"),))] == 1
    assert found[("herald_facts_errors", (("source", "broadcasts"),))] == 0
    assert not any(name == "herald_queue_length" for name, _ in found)
    assert ("herald_broadcasts", (("status", "sending"),)) in found


@pytest.mark.django_db
def test_queue_lengths_come_from_the_broker(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a real Redis broker: tasks published to a queue and not consumed are counted there."""
    broker = redis_url.rsplit("/", 1)[0] + "/15"
    monkeypatch.setitem(app.conf, "broker_url", broker)
    import redis

    connection = redis.Redis.from_url(broker)
    connection.delete("webhooks", "celery")
    try:
        queue = next(q for q in settings.CELERY_TASK_QUEUES if q.name == "webhooks")
        with app.connection_for_write() as conn:
            producer = conn.Producer()
            for n in range(3):
                producer.publish({"n": n}, exchange=queue.exchange, routing_key="webhooks", declare=[queue])
        assert broker_queue_lengths() == {"celery": 0, "webhooks": 3}
    finally:
        connection.delete("webhooks", "celery")


def test_healthz_names_a_broker_that_does_not_answer(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert "broker: unavailable (OperationalError)" in response.json()["problems"]
    assert response.json()["queue_lengths"] is None


# --- counters of every process add up -------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from accounts import metrics
    metrics.messages_handed("sim", int(sys.argv[1]))
    metrics.sends_recorded(["sim"] * int(sys.argv[1]), [("sim", "http_400")])
    metrics.provider_requests("sim", [0.02])
    metrics.SMPP_BINDS_UP.labels("smsc").set(1)
    """
)

SCRAPER = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from accounts import metrics
    if len(sys.argv) > 1:
        metrics.process_exited(int(sys.argv[1]))
    sys.stdout.write(metrics.exposition({}, datetime.now(timezone.utc)).decode())
    """
)


def run_python(code: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    )


def test_counters_of_separate_processes_add_up_and_dead_ones_leave_the_live_gauges(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("HERALD_METRICS_ROOT", None)
    first = subprocess.Popen([sys.executable, "-c", CHILD, "3"], cwd=BASE_DIR, env=env)
    first.wait()
    run_python(CHILD, env, "4")
    found = samples(run_python(SCRAPER, env).stdout.encode())
    assert found[("herald_messages_handed_total", (("connector", "sim"),))] == 7
    assert found[("herald_messages_accepted_total", (("connector", "sim"),))] == 7
    assert found[("herald_messages_failed_total", (("connector", "sim"), ("error_code", "http_400")))] == 2
    assert found[("herald_provider_request_seconds_count", (("connector", "sim"),))] == 2
    assert found[("herald_smpp_binds_up", (("connector", "smsc"),))] == 2
    # The first process is marked dead (gunicorn's child_exit, Celery's worker_process_shutdown):
    # its bind no longer counts, its counters still do.
    found = samples(run_python(SCRAPER, env, str(first.pid)).stdout.encode())
    assert found[("herald_smpp_binds_up", (("connector", "smsc"),))] == 1
    assert found[("herald_messages_handed_total", (("connector", "sim"),))] == 7


EXITING = textwrap.dedent(
    """
    import os, runpy, sys, types
    from accounts import metrics
    metrics.SMPP_BINDS_UP.labels("smsc").set(1)
    if sys.argv[1] == "celery":
        import config.celery
        from celery.signals import worker_process_shutdown
        worker_process_shutdown.send(sender=None, pid=os.getpid(), exitcode=0)
    else:
        hooks = runpy.run_path("config/gunicorn.py")
        hooks["child_exit"](None, types.SimpleNamespace(pid=os.getpid()))
    """
)


@pytest.mark.parametrize("launcher", ["celery", "gunicorn"])
def test_a_pool_process_that_exits_leaves_the_live_gauges(tmp_path: Path, launcher: str) -> None:
    """Celery's worker_process_shutdown (config/celery.py) and gunicorn's child_exit (config/gunicorn.py)
    mark the process dead: its SMPP binds stop counting."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    env.pop("HERALD_METRICS_ROOT", None)
    run_python(CHILD, env, "1")  # a process that stays alive as far as the files say
    run_python(EXITING, env, launcher)
    found = samples(run_python(SCRAPER, env).stdout.encode())
    assert found[("herald_smpp_binds_up", (("connector", "smsc"),))] == 1


def test_containers_directories_under_the_metrics_root_add_up(tmp_path: Path) -> None:
    """Docker: each container its own directory under HERALD_METRICS_ROOT (process ids repeat)."""
    for container in ("web-1", "worker-1"):
        (tmp_path / container).mkdir()  # the entrypoint's work (scripts/docker-entrypoint.sh)
        run_python(CHILD, {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / container)}, "2")
    env = {**os.environ, "HERALD_METRICS_ROOT": str(tmp_path), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "web-1")}
    found = samples(run_python(SCRAPER, env).stdout.encode())
    assert found[("herald_messages_handed_total", (("connector", "sim"),))] == 4


@pytest.mark.parametrize("values", [[0.02], [0.0, 0.005, 0.0051, 1.0, 14.9, 15.0, 99.0, 0.3, 0.3], []])
def test_observing_many_at_once_gives_what_observing_one_by_one_gives(values: list[float]) -> None:
    """The bulk observe writes prometheus-client's own bucket and sum values (accounts/metrics.py)."""
    from prometheus_client import CollectorRegistry, Histogram

    registry = CollectorRegistry()
    bounds = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0)
    histogram = Histogram("h", "h", ["connector"], buckets=bounds, registry=registry)
    one = histogram.labels("one")
    for value in values:
        one.observe(value)
    metrics.observe_many(histogram.labels("many"), values)

    def exposed(connector: str) -> dict[tuple[str, str], float]:
        return {
            (s.name, s.labels.get("le", "")): s.value
            for family in registry.collect()
            for s in family.samples
            if s.labels.get("connector") == connector and not s.name.endswith("_created")
        }

    assert exposed("many") == exposed("one")
    assert exposed("many")[("h_count", "")] == len(values)


@pytest.mark.parametrize(
    ("code", "label"),
    [
        ("http_400", "http_400"),
        ("twilio_21610", "twilio_21610"),
        ("smpp_0x00000058", "smpp_0x00000058"),
        ("smpp_undeliv_000", "smpp_undeliv_000"),
        ("", "send_failed"),
        ("bad number +256772000001", "other"),
        ("256772000001", "other"),
        ("x" * 65, "other"),
        ("quota: 5 €", "other"),
    ],
)
def test_an_error_code_that_could_carry_a_number_or_text_is_labelled_other(code: str, label: str) -> None:
    assert metrics.error_code_label(code) == label
    before = value("herald_messages_failed_total", connector="codes", error_code=label)
    metrics.sends_recorded([], [("codes", code)])
    assert value("herald_messages_failed_total", connector="codes", error_code=label) == before + 1


@pytest.mark.django_db
def test_a_scrape_costs_six_indexed_queries(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(6):
        assert scrape().status_code == 200


def test_the_dashboard_and_the_alerts_name_only_metrics_herald_exports() -> None:
    """docs/grafana/: every herald_* name in a panel or an alert rule is one /metrics can serve."""
    import re

    import yaml

    exported = set(metrics.FACTS)
    for family in REGISTRY.collect():  # the sample names each registered metric can have
        exported.update(family.name + suffix for suffix in ("", "_total", "_bucket", "_count", "_sum"))
    dashboard = json.loads((BASE_DIR / "docs" / "grafana" / "herald.json").read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = yaml.safe_load((BASE_DIR / "docs" / "grafana" / "herald-alerts.yml").read_text())
    expressions += [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    named = {name for expression in expressions for name in re.findall(r"herald_[a-z_]+", expression)}
    assert len(named) >= 15
    assert named - exported == set()


def test_no_label_of_any_metric_can_carry_a_number_text_or_key() -> None:
    allowed = {"connector", "error_code", "status", "queue", "source", "outcome", "le"}
    for collector in (
        metrics.MESSAGES_HANDED,
        metrics.MESSAGES_ACCEPTED,
        metrics.MESSAGES_FAILED,
        metrics.PROVIDER_LATENCY,
        metrics.DELIVERY_REPORTS,
        metrics.DELIVERY_REPORT_LAG,
        metrics.SMPP_BINDS_UP,
        metrics.SMPP_WINDOW_IN_USE,
        metrics.SMPP_WINDOW_SIZE,
        metrics.WEBHOOK_ATTEMPTS,
    ):
        assert set(collector._labelnames) <= allowed
    assert {label for _help, label in metrics.FACTS.values() if label} <= allowed
