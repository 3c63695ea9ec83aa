"""Per-client rate limits kept in Redis (or PostgreSQL without Redis), shared across processes."""

from __future__ import annotations

import multiprocessing

import pytest
import structlog
from django.core.exceptions import ValidationError
from django.db import connections

from accounts.models import Client
from accounts.ratelimit import PostgresRateLimiter, RedisRateLimiter, get_limiter, parse_rate
from accounts.services import client_set_rate_limits
from tests.helpers import assert_error

pytestmark = [pytest.mark.urls("tests.accounts.urls")]


def send(api):
    return api.post("/api/v1/test/send/", {}, format="json")


@pytest.mark.django_db
def test_the_n_plus_first_send_in_the_window_gets_429_with_retry_after(make_api, redis_url, settings):
    settings.SEND_RATE_LIMIT = "3/15m"
    api = make_api()
    assert isinstance(get_limiter(), RedisRateLimiter)
    assert [send(api).status_code for _ in range(3)] == [201, 201, 201]
    response = send(api)
    error = assert_error(response, 429, "rate_limit_error")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 15 * 60
    assert str(retry_after) in error["message"]


@pytest.mark.django_db
def test_client_override_beats_the_default(make_api, redis_url, settings):
    settings.SEND_RATE_LIMIT = "100/15m"
    api = make_api()
    api.tenant.send_rate_limit = "1/h"
    api.tenant.save()
    assert send(api).status_code == 201
    assert send(api).status_code == 429


@pytest.mark.django_db
def test_send_and_api_limits_are_counted_apart(make_api, redis_url, settings):
    settings.SEND_RATE_LIMIT = "1/15m"
    settings.API_RATE_LIMIT = "2/h"
    api = make_api()
    assert send(api).status_code == 201
    assert send(api).status_code == 429
    assert api.get("/api/v1/me/").status_code == 200
    assert api.get("/api/v1/me/").status_code == 200
    assert_error(api.get("/api/v1/me/"), 429, "rate_limit_error")


@pytest.mark.django_db
def test_limits_are_per_client(make_api, redis_url, settings):
    settings.SEND_RATE_LIMIT = "1/15m"
    first, second = make_api(), make_api()
    assert send(first).status_code == 201
    assert send(first).status_code == 429
    assert send(second).status_code == 201


@pytest.mark.django_db
def test_without_redis_the_postgres_limiter_enforces_the_same_limit(make_api, settings):
    settings.REDIS_URL = None
    settings.SEND_RATE_LIMIT = "2/15m"
    api = make_api()
    assert isinstance(get_limiter(), PostgresRateLimiter)
    assert [send(api).status_code for _ in range(3)] == [201, 201, 429]


def test_redis_window_slides(redis_url, settings):
    limiter = RedisRateLimiter(redis_url, f"{settings.REDIS_KEY_PREFIX}:slide")
    limiter.reset("k")
    rate = parse_rate("2/1s")
    assert limiter.hit("k", rate).allowed
    assert limiter.hit("k", rate).allowed
    assert not limiter.hit("k", rate).allowed
    import time

    time.sleep(1.1)
    assert limiter.hit("k", rate).allowed
    limiter.reset("k")


def _hammer(raw_key: str, count: int, queue) -> None:  # runs in a forked process
    from rest_framework.test import APIClient

    connections.close_all()
    get_limiter.cache_clear()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    queue.put([api.post("/api/v1/test/send/", {}, format="json").status_code for _ in range(count)])
    connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_across_processes(make_api, redis_url, settings):
    settings.SEND_RATE_LIMIT = "5/15m"
    api = make_api()
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(api.raw_key, 4, queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    statuses = [status for _ in workers for status in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    assert sorted(statuses) == [201] * 5 + [429] * 7


@pytest.mark.django_db
@pytest.mark.parametrize("stored", ["lots", "0/m", "10/15x"])
def test_an_unreadable_stored_client_limit_falls_back_to_the_default(make_api, redis_url, settings, stored):
    """Fail closed: a value that slipped past the field's validator (written by hand, or before it
    existed) must not turn the limit off."""
    settings.SEND_RATE_LIMIT = "1/15m"
    api = make_api()
    Client.objects.filter(pk=api.tenant.pk).update(send_rate_limit=stored)  # bypasses the validator
    with structlog.testing.capture_logs() as logs:
        assert send(api).status_code == 201
        assert_error(send(api), 429, "rate_limit_error")
    assert {"event": "ratelimit.invalid_client_rate", "client_id": str(api.tenant.pk), "scope": "send"} in [
        {k: entry.get(k) for k in ("event", "client_id", "scope")} for entry in logs
    ]


@pytest.mark.django_db
def test_the_model_field_refuses_a_malformed_limit():
    with pytest.raises(ValidationError) as excinfo:
        Client(name="Acme", country="UG", send_rate_limit="fast", api_rate_limit="3600/h").full_clean()
    assert excinfo.value.message_dict == {
        "send_rate_limit": ["'fast' is not a rate; write N/period, e.g. 10/15m, 3600/h or 100/30s."]
    }


@pytest.fixture(params=["redis", "postgres"])
def limiter_kind(request, settings):
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    else:
        settings.REDIS_URL = None
    get_limiter.cache_clear()
    return request.param


def send_echo(api, body, **headers):
    return api.post("/api/v1/test/send-echo/", body, format="json", **headers)


@pytest.mark.django_db
def test_refused_sends_and_replays_do_not_count_against_the_send_limit(make_api, settings, limiter_kind):
    settings.SEND_RATE_LIMIT = "2/15m"
    api = make_api()
    assert [send_echo(api, {}).status_code for _ in range(5)] == [400] * 5
    assert send_echo(api, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    replays = [send_echo(api, {"name": "a"}, HTTP_IDEMPOTENCY_KEY="k") for _ in range(5)]
    assert [(r.status_code, r["Idempotent-Replayed"]) for r in replays] == [(201, "true")] * 5
    assert send_echo(api, {"name": "b"}).status_code == 201
    assert_error(send_echo(api, {"name": "c"}), 429, "rate_limit_error")  # the 2 that ran, and only them
    assert_error(send_echo(api, {}), 429, "rate_limit_error")  # once over, a 429 stays a 429


@pytest.mark.django_db
def test_replays_do_not_count_against_the_api_limit_but_refusals_do(make_api, settings, limiter_kind):
    settings.API_RATE_LIMIT = "3/h"
    api = make_api()
    echo = lambda body, **h: api.post("/api/v1/test/echo/", body, format="json", **h)  # noqa: E731
    assert echo({"name": "a"}, HTTP_IDEMPOTENCY_KEY="k").status_code == 201
    assert [echo({"name": "a"}, HTTP_IDEMPOTENCY_KEY="k").status_code for _ in range(4)] == [201] * 4
    assert echo({}).status_code == 400  # a refusal still counts here: this limit guards against hammering
    assert echo({"name": "b"}).status_code == 201
    assert_error(echo({"name": "c"}), 429, "rate_limit_error")


def test_give_back_removes_exactly_the_hit_it_names(redis_url, settings):
    limiter = RedisRateLimiter(redis_url, f"{settings.REDIS_KEY_PREFIX}:giveback")
    limiter.reset("k")
    rate = parse_rate("2/h")
    first, second = limiter.hit("k", rate), limiter.hit("k", rate)
    assert not limiter.hit("k", rate).allowed
    limiter.give_back("k", second.token)
    limiter.give_back("k", second.token)  # twice is once: it names one hit
    assert limiter.hit("k", rate).allowed
    assert not limiter.hit("k", rate).allowed
    assert first.token != second.token
    limiter.reset("k")


@pytest.mark.django_db
def test_the_service_refuses_a_malformed_limit_and_changes_nothing(tenant):
    with pytest.raises(ValidationError) as excinfo:
        client_set_rate_limits(client=tenant, send_rate_limit="120/15m", api_rate_limit="lots")
    assert excinfo.value.message_dict == {
        "api_rate_limit": ["'lots' is not a rate; write N/period, e.g. 10/15m, 3600/h or 100/30s."]
    }
    tenant.refresh_from_db()
    assert (tenant.send_rate_limit, tenant.api_rate_limit) == ("", "")
    client_set_rate_limits(client=tenant, send_rate_limit=" 120/15m ")
    tenant.refresh_from_db()
    assert (tenant.send_rate_limit, tenant.api_rate_limit) == ("120/15m", "")
