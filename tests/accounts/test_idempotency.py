"""SPEC §4 Idempotency-Key: replay, mismatch, in-flight, expiry; failures on our side are not kept."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.idempotency import idempotency_lock_id, request_fingerprint
from accounts.models import IdempotencyRecord
from tests.accounts import urls as test_urls
from tests.helpers import assert_error

pytestmark = [pytest.mark.urls("tests.accounts.urls")]


@pytest.fixture(autouse=True)
def _reset_executions():
    test_urls.EXECUTIONS.clear()
    yield
    test_urls.EXECUTIONS.clear()


@pytest.mark.django_db
def test_repeat_with_same_key_and_body_replays_without_running_again(api):
    first = api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert len(test_urls.EXECUTIONS) == 1


@pytest.mark.django_db
def test_reordered_json_keys_count_as_the_same_body(api):
    api.post("/api/v1/test/echo/", {"name": "a", "count": 2}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    again = api.post(
        "/api/v1/test/echo/", '{"count": 2, "name": "a"}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert again.status_code == 201
    assert len(test_urls.EXECUTIONS) == 1


@pytest.mark.django_db
def test_validation_errors_are_replayed_too(api):
    first = api.post("/api/v1/test/echo/", {}, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    second = api.post("/api/v1/test/echo/", {}, format="json", HTTP_IDEMPOTENCY_KEY="bad")
    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()


@pytest.mark.django_db
def test_same_key_with_a_different_body_is_409(api):
    api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    response = api.post("/api/v1/test/echo/", {"name": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert_error(response, 409, "idempotency_error", "idempotency_key_reused")
    assert len(test_urls.EXECUTIONS) == 1


@pytest.mark.django_db
def test_same_key_on_another_path_is_409(api):
    api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    response = api.post("/api/v1/test/send/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    assert_error(response, 409, "idempotency_error", "idempotency_key_reused")


@pytest.mark.django_db
def test_keys_are_per_client(make_api):
    tenant_a, tenant_b = make_api(), make_api()
    tenant_a.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    response = tenant_b.post("/api/v1/test/echo/", {"name": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    assert response.status_code == 201
    assert len(test_urls.EXECUTIONS) == 2


@pytest.mark.django_db
def test_record_expires_after_24_hours(api):
    api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        response = api.post("/api/v1/test/echo/", {"name": "b"}, format="json", HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 201
    assert len(test_urls.EXECUTIONS) == 2


@pytest.mark.django_db
def test_server_errors_are_not_kept_so_a_retry_runs(api):
    for _ in range(2):
        response = api.post("/api/v1/test/server-error/", {}, format="json", HTTP_IDEMPOTENCY_KEY="e")
        assert_error(response, 500, "api_error")
    assert test_urls.EXECUTIONS == ["500", "500"]
    assert not IdempotencyRecord.objects.filter(key="e").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tinside"])
def test_malformed_key_is_400(api, key):
    response = api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    error = assert_error(response, 400, "invalid_request_error")
    assert "Idempotency-Key" in error["fields"]
    assert test_urls.EXECUTIONS == []


@pytest.mark.django_db
def test_a_record_left_in_flight_answers_409(api):
    IdempotencyRecord.objects.create(client=api.tenant, key="busy", fingerprint="whatever")
    response = api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    assert response.status_code == 409


@pytest.mark.django_db(transaction=True)
def test_repeat_while_the_first_is_still_running_is_409(api):
    test_urls.SLOW_GATE.clear()
    test_urls.SLOW_STARTED.clear()
    results = {}

    def first_request():
        try:
            results["first"] = api.post("/api/v1/test/slow/", {}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    assert test_urls.SLOW_STARTED.wait(timeout=10)
    second = api.post("/api/v1/test/slow/", {}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    test_urls.SLOW_GATE.set()
    thread.join(timeout=10)
    assert_error(second, 409, "idempotency_error", "idempotency_in_flight")
    assert results["first"].status_code == 201
    third = api.post("/api/v1/test/slow/", {}, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    assert third.status_code == 201
    assert third["Idempotent-Replayed"] == "true"


class _Holder:
    """Another session holding a key's advisory lock, as a request in another gunicorn thread would."""

    def __init__(self, lock_id: int) -> None:
        self.lock_id = lock_id
        self.holding, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s)", [self.lock_id])
            self.holding.set()
            self.release.wait(timeout=10)
        finally:
            connection.close()  # the session ends, and its locks with it: the holder is gone

    def __enter__(self) -> _Holder:
        self.thread.start()
        assert self.holding.wait(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.thread.join(timeout=10)


def _stale_record(api, key: str) -> IdempotencyRecord:
    fingerprint = request_fingerprint(method="POST", path="/api/v1/test/echo/", data={"name": "a"})
    record = IdempotencyRecord.objects.create(client=api.tenant, key=key, fingerprint=fingerprint)
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(minutes=6))
    return record


@pytest.mark.django_db(transaction=True)
def test_a_stale_record_whose_holder_still_runs_is_not_taken_over(api):
    _stale_record(api, "alive")
    with _Holder(idempotency_lock_id(client_id=api.tenant.pk, key="alive")):
        response = api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="alive")
    assert_error(response, 409, "idempotency_error", "idempotency_in_flight")
    assert test_urls.EXECUTIONS == []


@pytest.mark.django_db(transaction=True)
def test_a_stale_record_whose_holder_is_gone_is_taken_over(api):
    stale = _stale_record(api, "gone")
    with _Holder(idempotency_lock_id(client_id=api.tenant.pk, key="gone")):
        pass  # it held the key, then its connection closed
    response = api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="gone")
    assert response.status_code == 201
    assert len(test_urls.EXECUTIONS) == 1
    record = IdempotencyRecord.objects.get(client=api.tenant, key="gone")
    assert (record.pk != stale.pk, record.state, record.response_status) == (True, "completed", 201)


@pytest.mark.django_db(transaction=True)
def test_a_request_still_running_after_the_lock_timeout_keeps_its_key(api):
    """The first request runs past IDEMPOTENCY_LOCK_TIMEOUT on its own connection: a retry must not
    run the request a second time (it used to, creating a second broadcast)."""
    test_urls.SLOW_GATE.clear()
    test_urls.SLOW_STARTED.clear()
    results = {}

    def first_request():
        try:
            results["first"] = api.post("/api/v1/test/slow/", {}, format="json", HTTP_IDEMPOTENCY_KEY="long")
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert test_urls.SLOW_STARTED.wait(timeout=10)
        with time_machine.travel(timezone.now() + timedelta(minutes=6)):
            retry = api.post("/api/v1/test/slow/", {}, format="json", HTTP_IDEMPOTENCY_KEY="long")
    finally:
        test_urls.SLOW_GATE.set()
        thread.join(timeout=10)
    assert_error(retry, 409, "idempotency_error", "idempotency_in_flight")
    assert results["first"].status_code == 201
    assert IdempotencyRecord.objects.get(key="long").state == "completed"


@pytest.mark.django_db
def test_the_key_lock_is_released_when_the_request_ends(api):
    api.post("/api/v1/test/echo/", {"name": "a"}, format="json", HTTP_IDEMPOTENCY_KEY="done")
    api.post("/api/v1/test/server-error/", {}, format="json", HTTP_IDEMPOTENCY_KEY="failed")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone() == (0,)
